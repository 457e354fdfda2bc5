"""What cron sees: every command run as a real process with no terminal, output checked exactly."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import SAMPLE

pytestmark = pytest.mark.slow

TINY = ["--epochs", "1", "--set", "model.hidden_size=8", "--set", "model.num_layers=1"]
COMMANDS = {
    "fetch": ["fetch", "--from-csv", str(SAMPLE / "KO.csv"), "--ticker", "KO"],
    "store": ["store"],
    "train": ["train", "--ticker", "KO", *TINY],
    "evaluate": ["evaluate"],
    "predict": ["predict", "--allow-stale"],
    "runs": ["runs"],
    "report": ["report"],
}


def run(root: Path, *args: str, no_color: bool = True) -> subprocess.CompletedProcess:
    env = {
        key: value for key, value in os.environ.items() if key not in ("NO_COLOR", "FORCE_COLOR", "COLUMNS")
    }
    env.update(
        HOME=str(root / "home"),
        STOCKRNN_STORE=str(root / "store"),
        STOCKRNN_RUNS=str(root / "runs"),
        STOCKRNN_FORECASTS=str(root / "forecasts"),
        TERM="xterm-256color",  # a terminal type that allows colour, yet stdout is a pipe
    )
    if no_color:
        env["NO_COLOR"] = "1"
    return subprocess.run(
        [sys.executable, "-m", "stockrnn", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="module")
def quiet_results(tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Each command once, in pipeline order, with --quiet and a log file."""
    root = tmp_path_factory.mktemp("cron")
    results = {
        name: run(root, "--quiet", "--log-file", str(root / "log"), *args) for name, args in COMMANDS.items()
    }
    results["root"] = root
    return results


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_quiet_command_prints_nothing_at_all_on_success(quiet_results, command):
    result = quiet_results[command]
    assert (result.returncode, result.stdout, result.stderr) == (0, "", "")


def test_the_log_file_gets_one_plain_line_per_event_and_no_escapes(quiet_results):
    text = (quiet_results["root"] / "log").read_text()
    assert "\x1b" not in text
    assert " INFO stockrnn: fetch KO: imported, 8313 rows added\n" in text


def test_nothing_is_written_to_the_home_folder(quiet_results):
    """The README promises the data folders and the log you name, nothing else: no matplotlib or
    yfinance cache in ~/.cache or ~/.config after every command ran, the report's charts included."""
    home = quiet_results["root"] / "home"
    assert not home.exists() or sorted(p.name for p in home.rglob("*")) == []


@pytest.mark.parametrize("no_color", [True, False], ids=["NO_COLOR", "colour-capable TERM"])
@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_output_to_a_pipe_has_no_ansi_escapes(quiet_results, command, no_color):
    result = run(quiet_results["root"], *COMMANDS[command], no_color=no_color)
    assert result.returncode == 0, result.stderr
    assert result.stdout and "\x1b" not in result.stdout + result.stderr


def test_fetch_output_to_a_pipe_is_exactly_the_plain_table(tmp_path):
    result = run(tmp_path, *COMMANDS["fetch"])
    assert result.returncode == 0
    assert result.stderr == ""
    assert result.stdout == (
        "fetch\n"
        "┏━━━━━━━━┳━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━━━━━━━┳━━━━━━┓\n"
        "┃ ticker ┃ status   ┃ rows added ┃ first      ┃ last       ┃ note ┃\n"
        "┡━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━┩\n"
        "│ KO     │ imported │       8313 │ 1990-01-02 │ 2022-12-28 │      │\n"
        "└────────┴──────────┴────────────┴────────────┴────────────┴──────┘\n"
        f"store: {tmp_path / 'store'}\n"
    )


def test_an_error_is_exactly_one_line_on_stderr_and_nothing_on_stdout(tmp_path):
    result = run(tmp_path, "--quiet", "predict")
    assert result.returncode == 66
    assert result.stdout == ""
    assert result.stderr == f"Error: no runs in {tmp_path / 'runs'}; train one with `stockrnn train`\n"


def _readme_crontab() -> list[str]:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    section = readme[readme.index("## Running from cron") :]
    return re.search(r"```cron\n(.*?)```", section, re.S).group(1).splitlines()


def test_the_readme_crontab_runs_as_written_under_cron_s_bare_environment(tmp_path):
    """Each crontab line executed as cron does: /bin/sh -c in an environment of only HOME, LOGNAME,
    PATH=/usr/bin:/bin and SHELL plus the crontab's assignments. Only the README's placeholders
    change (/home/you is this test's home, the clone's .venv this interpreter's), and the night's
    `fetch` reads the bundled sample, since tests never reach Yahoo."""
    home = tmp_path / "you"
    (home / "stockrnn").mkdir(parents=True)
    (home / "stockrnn" / "my.toml").write_text(
        '[data]\ntickers = ["GSPC"]\n[features]\nlookback = 20\nhorizon = 2\n'
        "[model]\nhidden_size = 8\nnum_layers = 1\n[training]\nepochs = 1\n"
    )
    venv_bin = Path(sys.executable).parent
    environment = {"HOME": str(home), "LOGNAME": "you", "PATH": "/usr/bin:/bin", "SHELL": "/bin/sh"}
    jobs = []
    for line in _readme_crontab():
        line = line.replace("/home/you/stockrnn/.venv/bin/", f"{venv_bin}/").replace("/home/you", str(home))
        assignment = re.fullmatch(r"([A-Z_]+)=(.*)", line)
        if assignment:
            environment[assignment.group(1)] = assignment.group(2)
        elif line.strip() and not line.startswith("#"):
            jobs.append(line.split(None, 5)[5])  # the five time fields, then the command
    nightly, saturday = jobs
    assert nightly.startswith("$SR fetch && ") and saturday.startswith("$SR train ")

    def as_cron(command: str) -> subprocess.CompletedProcess:
        bare = ["env", "-i", *(f"{k}={v}" for k, v in environment.items()), "/bin/sh", "-c", command]
        return subprocess.run(bare, capture_output=True, text=True, timeout=600, stdin=subprocess.DEVNULL)

    assert as_cron("$SR fetch --sample").returncode == 0
    trained = as_cron(saturday)  # the first challenger: no production run yet, so it becomes it
    assert (trained.returncode, trained.stdout, trained.stderr) == (0, "", "")
    night = as_cron(nightly.replace("$SR fetch", "$SR fetch --sample", 1))
    # The sample ends in 2018: predict refuses stale prices, and the one line is what cron mails.
    assert night.returncode == 65 and night.stdout == ""
    [line] = night.stderr.splitlines()
    assert line.startswith("Error: newest stored session behind the last closed session")
    log = (home / "stockrnn.log").read_text()
    assert "promoted run" in log and "exit 65" in log


@pytest.mark.parametrize("quiet", [True, False])
def test_a_library_warning_is_one_log_line_and_silent_under_quiet(tmp_path, quiet):
    """Issue 22, item 11: a matplotlib UserWarning reached stderr through -q in Python's two-line
    form. A real process: pytest records warnings itself and would hide the difference."""
    script = (
        "import sys, warnings\n"
        "import stockrnn.runs.folder as folder\n"
        "def scan(root):\n"
        "    warnings.warn('Attempting to set identical low and high xlims\\n  makes a singular transform', UserWarning)\n"
        "    return [], []\n"
        "folder.scan_runs = scan\n"
        "from stockrnn.cli.entry import main\n"
        "sys.argv = ['stockrnn', *sys.argv[1:]]\n"
        "main()\n"
    )
    log = tmp_path / "night.log"
    args = [*(["--quiet"] if quiet else []), "--log-file", str(log), "runs", "--runs", str(tmp_path / "runs")]
    done = subprocess.run([sys.executable, "-c", script, *args], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    line = "UserWarning: Attempting to set identical low and high xlims makes a singular transform"
    assert done.stderr == ("" if quiet else f"WARNING stockrnn: {line}\n")
    assert log.read_text().count(line) == 1
