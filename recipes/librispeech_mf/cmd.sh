# How the recipe's jobs run. "local": on this machine, up to $nj at once.
# (A cluster launcher plugs in here without changing run.sh.)
launcher=${launcher:-local}
nj=${nj:-1}
