from vaesep.cli import main

main()
