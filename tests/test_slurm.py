"""The recipes' launchers (utils/launch.sh), the ``slurm`` one against a real one-node SLURM.

The session fixture brings up SLURM from Debian's packages (slurm-wlm, munge; ``make test``
installs them through ``make slurm`` where it can): a slurm.conf with this host as controller
and only node, state, spool, logs and a munge key in a temporary dir, then ``munged``,
``slurmctld`` and ``slurmd``, stopped by their pids at the end. Without root or the packages
the SLURM tests skip, saying why.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from synthetic import make_datadir

RECIPE = Path(__file__).resolve().parents[1] / "recipes" / "timit_mf"
VENV_BIN = str(Path(sys.executable).parent)
LABELS = ("d032", "d064", "d128", "d256")  # the latent sweep's settings
TINY = (
    "training.epochs=1 training.progress=false training.num_threads=1 "
    "training.parallel_sources=false model.encoder_layers=[32] model.decoder_layers=[32]"
)
DAEMONS = ("munged", "slurmctld", "slurmd", "sbatch", "sinfo")
CMD_VARS = ("launcher", "nj", "slurm_partition", "slurm_account", "slurm_cpus_per_task")
CMD_VARS += ("slurm_mem", "slurm_time", "slurm_gpus", "slurm_extra")


def which(name: str) -> str | None:
    """A program on PATH or in the sbin dirs (not on a non-root PATH everywhere)."""
    return shutil.which(name, path=f"{os.environ.get('PATH', '')}:/usr/sbin:/sbin")


def why_no_slurm() -> str | None:
    if sys.platform != "linux":
        return "the SLURM test runs on Linux only"
    if os.geteuid() != 0:
        return "not root: the test SLURM runs its daemons as SlurmUser=root"
    missing = [name for name in DAEMONS if not which(name)]
    if missing and not which("apt-get"):
        return f"SLURM is not installed ({', '.join(missing)} missing) and there is no apt-get"
    if missing:
        return (
            f"SLURM is not installed ({', '.join(missing)} missing): "
            "run `make slurm` (apt-get install slurm-wlm munge) as root"
        )
    return None


def launch_env(**cmd: str) -> dict[str, str]:
    """The environment of a recipe run: the venv on PATH, cmd.sh's variables from ``cmd``."""
    env = {k: v for k, v in os.environ.items() if k not in CMD_VARS}
    env["PATH"] = f"{VENV_BIN}{os.pathsep}{env.get('PATH', '')}"
    return {**env, **cmd}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def die_with_parent() -> None:
    """In a daemon before exec: killed when pytest dies, so that none is left running."""
    ctypes.CDLL(None).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_for(check, timeout: float, what: str, logs: Path) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            tails = {p.name: p.read_text()[-1500:] for p in sorted(logs.glob("*.log"))}
            raise RuntimeError(f"test SLURM: {what} after {timeout} s; logs: {tails}")
        time.sleep(0.2)


SLURM_CONF = """\
ClusterName=vaesep-test
SlurmctldHost={host}(127.0.0.1)
SlurmctldPort={ctld_port}
SlurmdPort={slurmd_port}
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket={root}/run/munge.socket
CredType=cred/munge
StateSaveLocation={root}/state
SlurmdSpoolDir={root}/spool
SlurmctldPidFile={root}/run/slurmctld.pid
SlurmdPidFile={root}/run/slurmd.pid
SlurmctldLogFile={root}/log/slurmctld.log
SlurmdLogFile={root}/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
# Finished jobs leave the controller soon, so that 'sbatch --wait' polls every 2 s, and
# pending array tasks start as soon as a CPU is free (not up to 3 s later).
MinJobAge=4
SchedulerParameters=batch_sched_delay=0
NodeName={host} NodeAddr=127.0.0.1 CPUs={cpus} RealMemory={mem_mb} State=UNKNOWN
PartitionName=test Nodes={host} Default=YES MaxTime=INFINITE State=UP
"""


def write_config(root: Path) -> tuple[Path, str]:
    """slurm.conf and a munge key under ``root``; returns the conf and this host's name."""
    for sub in ("state", "spool", "log", "run"):
        (root / sub).mkdir()
    key = root / "run" / "munge.key"
    if which("mungekey"):
        subprocess.run([which("mungekey"), "--create", f"--keyfile={key}"], check=True)
    else:
        key.write_bytes(os.urandom(1024))
        key.chmod(0o600)
    host = subprocess.run(["hostname", "-s"], capture_output=True, text=True).stdout.strip()
    host = host or socket.gethostname().split(".")[0]
    conf = root / "slurm.conf"
    conf.write_text(
        SLURM_CONF.format(
            host=host,
            root=root,
            ctld_port=free_port(),
            slurmd_port=free_port(),
            cpus=len(os.sched_getaffinity(0)),
            mem_mb=min(1000, os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2**21),
        )
    )
    return conf, host


@pytest.fixture(scope="session")
def slurm_env() -> Iterator[dict[str, str]]:
    """The environment (SLURM_CONF) of a running one-node SLURM; stopped after the session."""
    reason = why_no_slurm()
    if reason:
        pytest.skip(reason)
    root = Path(tempfile.mkdtemp(prefix="vaesep-slurm-"))
    root.chmod(0o755)  # munged wants its socket's dirs searchable by all
    daemons: list[subprocess.Popen] = []
    env = launch_env()

    def start(*cmd: str, log: str) -> None:
        with open(root / "log" / log, "w") as out:
            daemons.append(
                subprocess.Popen(
                    [which(cmd[0]), *cmd[1:]],
                    env=env,
                    cwd=root,
                    stdin=subprocess.DEVNULL,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    preexec_fn=die_with_parent,
                )
            )

    def node_idle() -> bool:
        for daemon in daemons:
            if daemon.poll() is not None:
                raise RuntimeError(f"test SLURM: {daemon.args[0]} exited ({daemon.returncode})")
        sinfo = subprocess.run(
            [which("sinfo"), "-h", "-N", "-o", "%t"], env=env, capture_output=True, text=True
        )
        return sinfo.stdout.strip() == "idle"

    try:
        conf, host = write_config(root)
        env["SLURM_CONF"] = str(conf)
        run, log = root / "run", root / "log"
        start(
            "munged", "--foreground", f"--socket={run}/munge.socket", f"--key-file={run}/munge.key",
            f"--pid-file={run}/munged.pid", f"--log-file={log}/munged.log",
            f"--seed-file={run}/munged.seed", log="munged.out.log",
        )  # fmt: skip
        wait_for((run / "munge.socket").exists, 10, "no munge socket", log)
        start("slurmctld", "-D", "-f", str(conf), log="slurmctld.out.log")
        start("slurmd", "-D", "-f", str(conf), "-N", host, log="slurmd.out.log")
        wait_for(node_idle, 30, f"node {host} not idle", log)
        yield env
    finally:
        if daemons:
            subprocess.run([which("scancel"), "--user=root"], env=env, capture_output=True)
        for daemon in reversed(daemons):  # slurmd, slurmctld, munged, each by its pid
            daemon.terminate()
            try:
                daemon.wait(15)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()
        shutil.rmtree(root, ignore_errors=True)


def in_recipe(cmd: list[str], env: dict[str, str], timeout: float) -> subprocess.CompletedProcess:
    """Run ``cmd`` in the recipe dir; on a timeout, kill it with its children (sbatch...)."""
    proc = subprocess.Popen(
        cmd, cwd=RECIPE, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)  # launch.sh cancels its SLURM job
        stdout, stderr = proc.communicate()
        pytest.fail(f"{cmd[0]} ran over {timeout} s: {stderr[-3000:]}")
    return subprocess.CompletedProcess(cmd, proc.returncode, stdout, stderr)


def sweep(mixtures: Path, exp: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return in_recipe(
        ["./sweep.sh", "--sweep", "latent", "--mixtures", str(mixtures), "--exp", str(exp),
         "--train-set", TINY],
        env, timeout=300,
    )  # fmt: skip


def launch(
    jobs: list[str], log_dir: Path, env: dict[str, str], *options: str
) -> subprocess.CompletedProcess:
    """utils/launch.sh on these tasks, run from the recipe dir, named 'fail'."""
    jobs_file = log_dir.parent / "fail.jobs"
    jobs_file.write_text("".join(f"{line}\n" for line in jobs))
    return in_recipe(
        ["utils/launch.sh", "--name", "fail", "--jobs-file", str(jobs_file),
         "--log-dir", str(log_dir), *options],
        env, timeout=120,
    )  # fmt: skip


@pytest.mark.slurm
def test_sweep_runs_as_one_slurm_array_with_the_results_of_local(slurm_env, tmp_path):
    mixtures = tmp_path / "mixtures"
    make_datadir(mixtures / "train", n_utts=3, seconds=1.0, rate=16000, seed=0)
    make_datadir(mixtures / "test", n_utts=1, seconds=1.0, rate=16000, seed=1)

    on_slurm = sweep(mixtures, tmp_path / "slurm", {**slurm_env, "launcher": "slurm"})
    assert on_slurm.returncode == 0, on_slurm.stderr[-3000:]
    assert "4 task(s) as SLURM job" in on_slurm.stderr
    sweep_dir = tmp_path / "slurm" / "latent"
    table = (sweep_dir / "RESULTS.md").read_text()
    for label in LABELS:
        assert (sweep_dir / label / "seed0" / "eval" / "summary.json").is_file(), label
        header = (sweep_dir / "log" / f"sweep_latent.{label}.log").read_text().splitlines()[:2]
        assert "vaesep run" in header[0] and f"--exp-dir {sweep_dir / label} " in header[0]
        assert header[1].startswith("# SLURM job "), header  # ran as an array task
        assert (sweep_dir / "log" / "sweep_latent.slurm" / f"{label}.status").read_text() == "0\n"
        assert f"| {label} |" in table, label

    local = sweep(mixtures, tmp_path / "local", launch_env(launcher="local", nj="2"))
    assert local.returncode == 0, local.stderr[-3000:]
    assert "4 task(s) on this machine, 2 at once" in local.stderr
    for label in LABELS:
        ours = (sweep_dir / label / "seed0" / "eval" / "metrics.csv").read_text()
        theirs = tmp_path / "local" / "latent" / label / "seed0" / "eval" / "metrics.csv"
        theirs = theirs.read_text()
        assert ours == theirs, label
        assert len(ours.splitlines()) == 3  # header, female, male of the one test mixture


@pytest.mark.slurm
def test_failed_and_killed_slurm_tasks_are_named_with_their_logs(slurm_env, tmp_path):
    log_dir = tmp_path / "log"
    tasks = ["t1 echo one", "t2 echo two >&2", "t3 echo three; exit 3", "t4 echo four"]
    tasks.append("t5 echo five; scancel $SLURM_JOB_ID; sleep 60")  # killed: no exit status
    result = launch(tasks, log_dir, {**slurm_env, "launcher": "slurm", "nj": "3"})
    assert result.returncode == 1, result.stderr
    assert "5 task(s) as SLURM job" in result.stderr and "array 1-5%3" in result.stderr
    failed = [line for line in result.stderr.splitlines() if "failed" in line]
    assert len(failed) == 2, result.stderr
    assert (
        failed[0] == f"utils/launch.sh: error: task t3 failed (exit 3); see {log_dir}/fail.t3.log"
    )
    assert failed[1].startswith("utils/launch.sh: error: task t5 failed (no exit status")
    assert f"see {log_dir}/fail.t5.log and {log_dir}/fail.slurm/slurm-" in failed[1]
    words = {"t1": "one", "t2": "two", "t3": "three", "t4": "four", "t5": "five"}
    for task, word in words.items():
        assert (log_dir / f"fail.{task}.log").read_text().splitlines()[-1] == word
    assert (log_dir / "fail.slurm" / "t3.status").read_text() == "3\n"
    assert not (log_dir / "fail.slurm" / "t5.status").exists()
    out = failed[1].rsplit(" and ", 1)[1]
    assert "CANCELLED" in Path(out).read_text()  # SLURM's own word on the killed task


FAKE_SBATCH = """\
#!/usr/bin/env bash
# Stands in for 'sbatch --wait': records its arguments, runs the array tasks one by one.
printf '%s\\n' "$@" > "$FAKE_SBATCH_ARGS"
for a in "$@"; do
  case $a in --array=*) n=${a#--array=1-}; n=${n%%%*} ;; -*) ;; *) break ;; esac; shift
done
echo 42
for i in $(seq "$n"); do SLURM_ARRAY_JOB_ID=42 SLURM_ARRAY_TASK_ID=$i bash "$@"; done
"""


def test_slurm_launcher_passes_cmd_sh_resources_to_sbatch(tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "sbatch").write_text(FAKE_SBATCH)
    (bin_dir / "sbatch").chmod(0o755)
    args_file = tmp_path / "sbatch.args"
    cmd = dict(
        launcher="slurm", nj="2", slurm_partition="gpu", slurm_account="lab",
        slurm_cpus_per_task="4", slurm_mem="8G", slurm_time="4:00:00", slurm_gpus="1",
        slurm_extra="--qos=high --constraint=v100",
    )  # fmt: skip
    env = {**launch_env(**cmd), "FAKE_SBATCH_ARGS": str(args_file)}
    env["PATH"] = f"{bin_dir}{os.pathsep}{env['PATH']}"
    tasks = ["a echo A", "b exit 5", "c echo C"]
    log_dir = tmp_path / "log"

    result = launch(tasks, log_dir, env, "--gpu", "true", "--nodes", "3")
    assert result.returncode == 1
    assert f"task b failed (exit 5); see {log_dir}/fail.b.log" in result.stderr
    args = args_file.read_text().splitlines()
    for option in (
        "--wait", "--array=1-3%2", f"--chdir={RECIPE}", "--export=ALL", "--partition=gpu",
        "--account=lab", "--cpus-per-task=4", "--mem=8G", "--time=4:00:00", "--gres=gpu:1",
        "--nodes=3", "--ntasks-per-node=1", "--qos=high", "--constraint=v100",
    ):  # fmt: skip
        assert option in args, option
    assert args[args.index("--constraint=v100") + 1].endswith("utils/slurm_task.sh")
    header, slurm_line, out = (log_dir / "fail.c.log").read_text().splitlines()
    assert header.startswith("# ") and header.endswith(" echo C")
    assert slurm_line == f"# SLURM job 42_3 on {socket.gethostname()}" and out == "C"
    assert (log_dir / "fail.slurm" / "c.status").read_text() == "0\n"

    # Not a GPU stage, or no GPUs asked for: no --gres.
    assert launch(tasks, log_dir, env).returncode == 1
    assert not any(a.startswith("--gres") for a in args_file.read_text().splitlines())
    env["slurm_gpus"] = "0"
    assert launch(tasks, log_dir, env, "--gpu", "true").returncode == 1
    assert not any(a.startswith("--gres") for a in args_file.read_text().splitlines())


RECORD = """\
#!/usr/bin/env bash
echo "$(basename "$0") $*" >> "$RECORDED"
"""


def train_sh(tmp_path: Path, **env: str) -> tuple[subprocess.CompletedProcess, list[str]]:
    """utils/train.sh --config c.yaml with srun, scontrol, torchrun and vaesep recording their
    arguments (scontrol naming two nodes) instead of running; returns the run and the record."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir(exist_ok=True)
    for tool in ("srun", "torchrun", "vaesep"):
        (bin_dir / tool).write_text(RECORD)
        (bin_dir / tool).chmod(0o755)
    (bin_dir / "scontrol").write_text("#!/usr/bin/env bash\nprintf 'node7\\nnode8\\n'\n")
    (bin_dir / "scontrol").chmod(0o755)
    record = tmp_path / "recorded"
    record.unlink(missing_ok=True)
    full = {k: v for k, v in launch_env().items() if not k.startswith("SLURM_JOB")} | env
    full.update(RECORDED=str(record), PATH=f"{bin_dir}{os.pathsep}{full['PATH']}")
    done = in_recipe(["utils/train.sh", "--config", "c.yaml"], full, timeout=30)
    return done, record.read_text().splitlines() if record.exists() else []


def test_training_runs_one_process_torchrun_or_one_torchrun_per_slurm_node(tmp_path):
    assert train_sh(tmp_path)[1] == ["vaesep train --config c.yaml"]
    assert train_sh(tmp_path, train_procs="3")[1] == [
        "torchrun --standalone --nproc_per_node 3 -m vaesep train --config c.yaml"
    ]
    job = dict(SLURM_JOB_ID="20123", SLURM_JOB_NUM_NODES="2", SLURM_JOB_NODELIST="node[7-8]")
    done, record = train_sh(tmp_path, train_procs="4", train_nodes="2", **job)
    assert done.returncode == 0, done.stderr
    assert record == [
        "srun --nodes=2 --ntasks=2 --ntasks-per-node=1 --kill-on-bad-exit=1 torchrun --nnodes 2 "
        "--nproc_per_node 4 --rdzv-backend c10d --rdzv-endpoint node7:29623 --rdzv-id 20123 "
        "-m vaesep train --config c.yaml"
    ]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        ({"train_nodes": "2"}, "train_nodes=2 (cmd.sh) needs launcher=slurm"),
        ({"train_procs": "two"}, "train_procs='two' in cmd.sh"),
        (
            {"train_nodes": "2", "SLURM_JOB_ID": "5", "SLURM_JOB_NUM_NODES": "1"},
            "SLURM job 5 has 1 node(s)",
        ),
    ],
)
def test_training_on_nodes_it_does_not_have_says_how_to_fix(tmp_path, env, says):
    done, record = train_sh(tmp_path, **env)
    assert done.returncode == 2 and says in done.stderr and not record
    assert len(done.stderr.strip().splitlines()) == 1


def test_local_launcher_refuses_nodes(tmp_path):
    result = launch(["a true"], tmp_path / "log", launch_env(launcher="local"), "--nodes", "2")
    assert result.returncode == 2 and "needs launcher=slurm" in result.stderr


def test_empty_jobs_file_does_nothing(tmp_path):
    result = launch([], tmp_path / "log", launch_env(launcher="slurm"))
    assert result.returncode == 0, result.stderr
    assert not (tmp_path / "log").exists()


def test_slurm_launcher_without_sbatch_says_how_to_fix(tmp_path):
    bin_dir = tmp_path / "bin"  # a PATH with bash and the tools launch.sh needs, no sbatch
    bin_dir.mkdir()
    for tool in ("bash", "env", "date", "mkdir", "sed", "cat"):
        (bin_dir / tool).symlink_to(shutil.which(tool))
    env = {**launch_env(launcher="slurm"), "PATH": str(bin_dir)}
    result = launch(["a true", "b true"], tmp_path / "log", env)
    assert result.returncode == 2
    assert "sbatch is not on PATH" in result.stderr and "launcher=local in cmd.sh" in result.stderr


def test_local_launcher_runs_as_many_tasks_as_cores_by_default(tmp_path):
    cores = len(os.sched_getaffinity(0))
    result = launch(["a echo A", "b exit 4"], tmp_path / "log", launch_env(launcher="local"))
    assert result.returncode == 1
    assert f"2 task(s) on this machine, {cores} at once" in result.stderr
    assert f"task b failed; see {tmp_path}/log/fail.b.log" in result.stderr
    assert (tmp_path / "log" / "fail.a.log").read_text().splitlines()[-1] == "A"


@pytest.mark.parametrize(
    ("nj", "given", "expected"), [("1", None, None), ("2", None, None), ("1", "3", "3")]
)
def test_local_tasks_share_the_cores_as_threads(tmp_path, nj, given, expected):
    """Each task gets cores / tasks-at-once OpenMP threads (at least 1) unless the caller
    set OMP_NUM_THREADS: more threads than cores make torch's threads spin."""
    cores = len(os.sched_getaffinity(0))
    env = launch_env(launcher="local", nj=nj)
    env.pop("OMP_NUM_THREADS", None)
    if given:
        env["OMP_NUM_THREADS"] = given
    result = launch(["a echo threads=$OMP_NUM_THREADS", "b true"], tmp_path / "log", env)
    assert result.returncode == 0, result.stderr
    want = expected or str(max(1, cores // int(nj)))
    assert (tmp_path / "log" / "fail.a.log").read_text().splitlines()[-1] == f"threads={want}"


@pytest.mark.slurm
def test_data_parallel_training_runs_as_a_slurm_task(slurm_env, tmp_path):
    """train_procs=2 (cmd.sh): stage 2 trains as a multi-node job would, srun starting one
    torchrun per node (here the one node) that meet by c10d rendezvous, 2 gloo processes in
    one array task; rank 0 writes the experiment dir."""
    mixtures = tmp_path / "mixtures"
    make_datadir(mixtures / "train", n_utts=4, seconds=1.0, rate=16000, seed=0)
    make_datadir(mixtures / "test", n_utts=1, seconds=1.0, rate=16000, seed=1)
    exp = tmp_path / "exp"
    env = {**slurm_env, "launcher": "slurm", "train_procs": "2"}
    done = in_recipe(
        ["./sep.sh", "--stage", "2", "--stop-stage", "2", "--mixtures", str(mixtures),
         "--exp", str(exp), "--models", "rnn_mask", "--baselines", "",
         "--train-set", "training.epochs=1 training.progress=false training.num_threads=1"],
        env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    log = (exp / "log" / "train.rnn_mask.log").read_text()
    lines = log.splitlines()
    assert "utils/train.sh --config" in lines[0]
    assert lines[1].startswith("# SLURM job ")
    step = next(line for line in lines if line.startswith("+ exec srun"))
    assert "--ntasks-per-node=1" in step and "torchrun --nnodes 1 --nproc_per_node 2" in step
    assert "--rdzv-backend c10d" in step
    assert log.count("wrote ") == 1  # rank 0 speaks for both
    assert all((exp / "rnn_mask" / f"{s}.pt").is_file() for s in ("female", "male"))
