"""Command-line interface: `fourier-circuits theory | construct | train | analyze | runs | presets`.

Every command takes --json and then prints one JSON object (or list) on stdout and nothing else there.
Bad input is reported on one line on stderr ("error: ...") with exit code 2, before any run directory
is created.
"""
from __future__ import annotations

import functools
import json
import os
import sys
import time
from pathlib import Path

import click

from fourier_circuits.errors import (
    ConfigError,
    DivergedError,
    ResourceError,
    RunBusyError,
    RunStoreError,
    TaskError,
)
from fourier_circuits.runs import store as runstore
from fourier_circuits.tasks.registry import make_task, task_kind, task_names, task_values
from fourier_circuits.training.config import choices, resolve_config
from fourier_circuits.training.presets import PRESETS, RECIPES

# Heavy layers (torch, the trainer, the figure recipes) are imported inside the commands that need them, so
# that `theory`, `groups`, `presets`, `runs`, --help and every bad-input error answer at once.

EXIT_BAD_INPUT = 2
CAP_NOTE_BELOW = 0.999   # margin / γ* under which a run that hit its step cap says so on stderr (issue 13)


def fail(message: str, code: int = EXIT_BAD_INPUT) -> None:
    click.echo(f"error: {message}", err=True)
    sys.exit(code)


def reports_errors(fn):
    """Turn validation errors, damaged run-store files and unwritable paths into one stderr line + exit code 2."""
    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except (ConfigError, TaskError, ResourceError, RunBusyError, RunStoreError) as e:
            fail(str(e))
        except OSError as e:   # a path that cannot be written or read: /dev/null/x, a read-only store
            fail(f"{e.strerror}: {e.filename}" if e.strerror and e.filename else str(e))
    return wrapper


class OneLineErrors(click.Group):
    """Click's usage errors (a missing value, an unknown option or command) as one line, like every other
    error: "error: <command>: <what>", exit code 2."""

    def main(self, *args, **kwargs):
        kwargs.pop("standalone_mode", None)
        try:
            rv = super().main(*args, standalone_mode=False, **kwargs)
        except click.exceptions.NoArgsIsHelpError as e:   # no command: the help, as click prints it
            e.show()
            sys.exit(e.exit_code)
        except click.UsageError as e:
            where = f"{e.ctx.command_path}: " if e.ctx else ""
            fail(f"{where}{e.format_message()} (see --help)")
        except click.exceptions.Abort:
            fail("aborted", code=1)
        except click.ClickException as e:
            e.show()
            sys.exit(e.exit_code)
        except click.exceptions.Exit as e:
            sys.exit(e.exit_code)
        sys.exit(rv if isinstance(rv, int) else 0)   # --help, --version: click returns their exit code


def emit(data, as_json: bool, text: str | None = None) -> None:
    if as_json:
        click.echo(json.dumps(runstore.jsonable(data), indent=2, sort_keys=True))
    else:
        click.echo(text if text is not None else "\n".join(f"{k}: {v}" for k, v in data.items()))


@click.group(cls=OneLineErrors, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="fourier-circuits")
def main() -> None:
    """fourier-circuits: margin maximization and Fourier features on algebraic tasks."""


TASKS = list(task_names())


def task_options(fn):
    fn = click.option("--json", "as_json", is_flag=True, help="machine-readable output")(fn)
    fn = click.option("--n", "n", type=int, default=None, help="parity: number of bits")(fn)
    fn = click.option("--group", "group", default=None, help="group: spec such as S4, D5, C2xS3, Q8")(fn)
    fn = click.option("--k", "k", type=int, default=2, show_default=True, help="modadd, group: number of inputs; parity: |S|")(fn)
    fn = click.option("--p", "p", type=int, default=None, help="modadd: the modulus (train: odd prime; solve: any p >= 2)")(fn)
    return click.option("--task", type=click.Choice(TASKS), default="modadd", show_default=True)(fn)


@main.command()
@task_options
@reports_errors
def theory(task: str, p: int | None, k: int, group: str | None, n: int | None, as_json: bool) -> None:
    """Closed-form maximum normalized margin γ* and the width bound (or why the formula does not apply)."""
    kind = task_kind(task)
    t = make_task(task, p=p, k=k, group=group, n=n)  # validates the input
    if kind.theory is None:
        raise TaskError(f"task {task} has no theory")
    emit(kind.theory(t), as_json)


@main.command()
@task_options
@reports_errors
def construct(task: str, p: int | None, k: int, group: str | None, n: int | None, as_json: bool) -> None:
    """Build the explicit max-margin network (docs/theory.md §6) and measure its normalized margin (float64)."""
    kind = task_kind(task)
    t = make_task(task, p=p, k=k, group=group, n=n)
    if kind.construct is None:
        raise TaskError(f"task {task} has no explicit construction")
    from fourier_circuits.training.resources import check_construction
    check_construction(kind, t, (kind.theory(t) if kind.theory else {}).get("min_width") or 1)
    from fourier_circuits.models.margins import normalized_margin
    model, gs, inputs, labels, where = kind.construct(t)
    nm = normalized_margin(model, inputs, labels)
    emit({"task": task, **where, "width": model.width, "normalized_margin": nm, "gamma_star": gs,
          "margin_ratio": nm / gs if gs else None}, as_json)


@main.command()
@task_options
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="write the lower-bound network as a run directory (analyze and the plots work on it)")
@reports_errors
def solve(task: str, p: int | None, k: int, group: str | None, n: int | None, as_json: bool, out: str | None) -> None:
    """Certified γ* for k-input composition in any finite group (docs/theory.md §8): the class LP (upper bound,
    class weights q, the irreps the optimal neurons use) and a network reaching it (lower bound). Covers
    --task group and --task modadd with any modulus p ≥ 2, prime or composite."""
    kind = task_kind(task)
    if kind.solver_group is None:
        raise TaskError(f"solve covers the tasks whose γ* is a group-composition LP (modadd, group), not {task}")
    spec, k = kind.solver_group(task_values(p=p, k=k, group=group, n=n))
    from fourier_circuits.theory.solver.answer import solve_group
    from fourier_circuits.training.resources import USABLE_FRACTION, available_memory
    answer, model = solve_group(spec, k, memory_limit=int(USABLE_FRACTION * available_memory("cpu")))
    if out is not None:
        if model is None:
            raise TaskError(f"no lower-bound network for {spec}, k={k}: nothing to write to {out}")
        from fourier_circuits.runs.train import save_network_run
        cfg = resolve_config(task="group", group=spec, k=k, p=None, width=model.width, dtype="float64",
                             confirm_large=True, steps=1)
        result = {"status": "constructed", "steps": 0, "seconds": answer["seconds"],
                  "normalized_margin": answer["lower_bound"], "gamma_star": answer["gamma_star"],
                  "margin_ratio": answer["lower_bound"] / answer["gamma_star"], "train_accuracy": None,
                  "test_accuracy": None, "train_loss": None, "gamma_star_source": "solver"}
        answer["run_dir"] = str(save_network_run(cfg, model, out, result))
    def num(x, fmt: str) -> str:
        return "none" if x is None else format(x, fmt)
    lines = [f"{spec}, k={k}: γ* = {num(answer['gamma_star'], '.10g')} "
             f"({'certified' if answer['certified'] else 'not certified'}; bounds [{num(answer['lower_bound'], '.10g')}, "
             f"{answer['upper_bound']:.10g}], gap {num(answer['relative_gap'], '.2g')})",
             "class weights q: " + ", ".join(f"{c}: {w:.4g}" for c, w in answer["class_weights"].items()),
             "irreps used: " + ", ".join(f"{r['name']} ({r['mass']:.3g})" for r in answer["irreps_used"]),
             f"closed form: {answer['closed_form']}", f"{answer['seconds']:.2f} s"]
    emit(answer, as_json, "\n".join(lines))


@main.command()
@click.argument("spec")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def groups(spec: str, as_json: bool) -> None:
    """A finite group's order, conjugacy classes, real irreps (dimension, type) and character table."""
    from fourier_circuits.algebra.groups import parse_group
    from fourier_circuits.algebra.representations import character_table, irreps
    g = parse_group(spec)
    table = character_table(g)
    reps = irreps(g)
    classes = [{"representative": str(g.labels[c[0]]), "size": len(c)} for c in g.conjugacy_classes]
    data = {"group": spec, "order": g.order, "classes": classes,
            "irreps": [{"name": r.name, "dim": r.dim, "kind": r.kind} for r in reps],
            "character_table": {"irreps": list(table.names), "values": _complex_rows(table.values)}}
    lines = [f"{spec}: order {g.order}, {len(classes)} conjugacy classes, {len(reps)} real irreps"]
    lines.append("classes: " + ", ".join(f"{c['representative']} ({c['size']})" for c in classes))
    lines.append("real irreps: " + ", ".join(f"{r.name} (dim {r.dim}, {r.kind})" for r in reps))
    lines.append("character table (rows: complex irreps, columns: classes)")
    for name, row in zip(table.names, data["character_table"]["values"]):
        lines.append(f"  {name:>10} " + " ".join(f"{v:>8}" for v in row))
    emit(data, as_json, "\n".join(lines))


def _complex_rows(values) -> list[list]:
    """Character values, real numbers where the imaginary part vanishes, else 'a+bi' strings."""
    rows = []
    for row in values:
        out = []
        for v in row:
            v = complex(v)
            out.append(round(v.real, 6) if abs(v.imag) < 1e-9 else f"{v.real:.4g}{v.imag:+.4g}i")
        rows.append(out)
    return rows


OVERRIDES = [
    ("p", int, "prime modulus"), ("k", int, "number of inputs"), ("width", int, "hidden width m"),
    ("steps", int, "training steps (upper bound for the fast recipe)"), ("seed", int, "init seed"),
    ("recipe", "recipe", "fast (default; tf for a transformer), mo, li or tf"),
    ("activation", "activation", "z^d or ReLU"), ("degree", int, "d of z^d (default k)"),
    ("lr", float, "learning rate"), ("lam", float, "regularization strength λ"),
    ("regularizer", "regularizer", "penalty"), ("optimizer", "optimizer", "optimizer"),
    ("batch_size", int, "minibatch size (default full batch)"),
    ("train_fraction", float, "fraction of the population used for training"),
    ("device", "device", "device"), ("dtype", "dtype", "dtype"),
    ("n_layers", int, "transformer: number of blocks"), ("n_heads", int, "transformer: attention heads per block"),
    ("d_model", int, "transformer: residual stream width"),
]


def _parse_set(items: tuple[str, ...]) -> dict:
    """--set key=value pairs; values parsed as TOML scalars/arrays (so 1e-3, true, [1, 2] work)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # Python 3.10: tomli is the package tomllib was taken from, with the same API
        import tomli as tomllib
    out = {}
    for item in items:
        if "=" not in item:
            raise ConfigError(f"--set expects key=value, got {item!r}")
        key, value = item.split("=", 1)
        try:
            out[key.strip()] = tomllib.loads(f"v = {value}")["v"]
        except tomllib.TOMLDecodeError:
            out[key.strip()] = value
    return out


def train_command(fn):
    """The OVERRIDES as options; a type given as a config key name is a choice among that key's values."""
    allowed = choices()
    for name, typ, help_text in reversed(OVERRIDES):
        typ = click.Choice(list(allowed[typ])) if isinstance(typ, str) else typ
        fn = click.option(f"--{name.replace('_', '-')}", name, type=typ, default=None, help=help_text)(fn)
    return fn


@main.command()
@click.option("--preset", default=None, help=f"named paper run: {', '.join(PRESETS)}")
@click.option("--config", "config_file", type=click.Path(dir_okay=False), default=None,
              help="TOML config file (keys of TrainConfig)")
@click.option("--set", "sets", multiple=True, metavar="KEY=VALUE", help="any config key (repeatable)")
@click.option("--task", type=click.Choice(TASKS), default=None)
@click.option("--group", default=None, help="group task: spec such as S4")
@click.option("--n", "n", type=int, default=None, help="parity task: number of bits")
@click.option("--model", type=click.Choice(list(choices()["model"])), default=None,
              help="polynet (default) or transformer (default recipe tf)")
@train_command
@click.option("--out", "out", type=click.Path(file_okay=False), default=None,
              help="run directory (default: RUNS/<name>-<config hash>)")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False), default=None,
              help=f"run store root (default ${runstore.RUNS_ENV} or ./runs)")
@click.option("--progress/--no-progress", default=True, help="progress bar on stderr")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def train(preset, config_file, sets, out, runs_dir, progress, as_json, **overrides) -> None:
    """Train a network; rerunning the same command resumes it (or returns its finished result)."""
    values = {**overrides, **_parse_set(sets)}
    cfg = resolve_config(preset=preset, config_file=config_file, **values)
    from fourier_circuits.runs.train import default_run_name
    from fourier_circuits.runs.train import train as run_training
    root = runstore.runs_root(runs_dir)
    run_dir = Path(out) if out else root / default_run_name(cfg)
    threads = _torch_threads()   # the busy check samples for 0.2 s: only when threads could wait on each other
    busy = busy_note(threads, busy_cores(), os.cpu_count() or 1) \
        if threads > 1 and "OMP_NUM_THREADS" not in os.environ else None
    try:
        result = run_training(cfg, run_dir, progress=progress, runs_root=root)
    except ValueError as e:  # a run directory holding another config
        fail(str(e))
    except DivergedError as e:
        fail(str(e), code=1)
    emit(result, as_json)
    # after the result, so that an error stays one stderr line; the busy cores were read before the run started
    for note in (stop_note(result["status"], result.get("margin_ratio"), cfg.steps) if cfg.early_stop else None, busy):
        if note:
            click.echo(note, err=True)


def _torch_threads() -> int:
    import torch
    return torch.get_num_threads()


def busy_cores(interval: float = 0.2) -> float:
    """How many cores other work keeps busy now: on Linux the non-idle share of /proc/stat's CPU time over
    `interval` seconds times the cores (the 1-minute load average lags a job that just ended by a minute),
    elsewhere the load average."""
    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            ticks = [int(x) for x in f.readline().split()[1:]]
        return sum(ticks), ticks[3] + ticks[4]          # all, idle + iowait
    try:
        total0, idle0 = sample()
        time.sleep(interval)
        total1, idle1 = sample()
    except (OSError, ValueError, IndexError):
        return os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
    return (os.cpu_count() or 1) * (1.0 - (idle1 - idle0) / max(total1 - total0, 1))


def busy_note(threads: int, load: float, cores: int) -> str | None:
    """The stderr line, after the result, of a run whose torch threads did not fit in the idle cores: with `load`
    (the cores busy when it started, `busy_cores`) and `threads` more, the cores are oversubscribed, and OpenMP
    threads then spin-wait on each other. Measured on 2 cores with 2 other jobs running: `train --p 7 --k 2 --width 24
    --steps 40` took 39.5 s with 2 threads and 6.0 s with OMP_NUM_THREADS=1 (idle: 3.9 s either way).
    None when the threads fit or there is a single one."""
    if threads <= 1 or load < 0.75 or load + threads <= cores + 0.5:
        return None
    return (f"note: this machine was busy when training started ({load:.1f} of {cores} cores in use) and "
            f"torch used {threads} threads, which then wait on each other; OMP_NUM_THREADS=1 is often several "
            f"times faster here")


def stop_note(status: str, ratio: float | None, steps: int) -> str | None:
    """The stderr line of a recipe run that ended below CAP_NOTE_BELOW γ*: it hit its step cap ('done'), or
    the stopping rule took a plateau for the end ('converged'). None at the target or without a γ*."""
    if ratio is None or ratio >= CAP_NOTE_BELOW:
        return None
    if status == "done":
        return (f"note: training ran to its step cap (--steps {steps}) without converging, at {ratio:.5f} γ*; "
                "a larger --steps trains longer")
    if status == "converged":
        return (f"note: the stopping rule ended training on a plateau at {ratio:.5f} γ*, below {CAP_NOTE_BELOW} γ*; "
                "at a sufficient width that is not the maximum margin: another --seed or a larger --steps may "
                "go further")
    return None


@main.command()
@click.argument("run_dir", type=click.Path(file_okay=False))
@click.option("--plots/--no-plots", default=True, help="write figures to RUN_DIR/figures")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def analyze(run_dir: str, plots: bool, as_json: bool) -> None:
    """Fourier analysis of a trained run: per-neuron max power, dominant frequencies, coverage, phases."""
    from fourier_circuits.runs.analyze import analyze_run
    from fourier_circuits.runs.checkpoints import read_config
    from fourier_circuits.tasks.registry import kind_of
    summary = analyze_run(run_dir, plots=plots)
    brief = kind_of(read_config(run_dir)).brief
    emit(summary, as_json, "\n".join(f"{k}: {summary[k]}" for k in brief))


@main.command()
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False), default=None)
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def runs(runs_dir: str | None, as_json: bool) -> None:
    """List the runs in the run store's index."""
    rows = runstore.RunIndex(runs_dir).list()
    if as_json:
        emit(rows, True)
        return
    if not rows:
        click.echo("no runs")
        return
    cols = ("status", "task", "p", "k", "width", "recipe", "seed", "steps", "margin_ratio", "seconds", "run_dir")
    click.echo("\t".join(cols))
    for r in rows:
        click.echo("\t".join(f"{r[c]:.4f}" if isinstance(r[c], float) else str(r[c]) for c in cols))


@main.command()
@click.option("--out", "out", type=click.Path(file_okay=False), default="runs/demo", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def demo(out: str, as_json: bool) -> None:
    """Quick reproduction on the embedded defaults (about a minute on 2 CPU cores): γ*, the explicit
    construction, the fast recipe on quadratic (p=23, m=88) and cubic (p=11, k=3, m=160) nets, their
    Fourier analysis and figures."""
    from fourier_circuits.models.margins import normalized_margin
    from fourier_circuits.runs.analyze import analyze_run
    from fourier_circuits.runs.train import train as run_training
    from fourier_circuits.tasks.modadd import ModularAddition
    from fourier_circuits.theory.modadd import construct_modadd, gamma_star_modadd
    rows = []
    for p, k, m in [(23, 2, 88), (11, 3, 160)]:
        t = ModularAddition(p, k)
        gs = gamma_star_modadd(p, k)
        built = normalized_margin(construct_modadd(p, k), t.inputs(), t.labels()) / gs
        run_dir = Path(out) / f"modadd-p{p}-k{k}-m{m}"
        result = run_training(resolve_config(p=p, k=k, width=m), run_dir, progress=not as_json)
        analysis = analyze_run(run_dir)
        rows.append({"p": p, "k": k, "width": m, "gamma_star": gs, "construction_ratio": built,
                     "trained_ratio": result["margin_ratio"], "seconds": result["seconds"],
                     "max_power_median": analysis["max_power_median"],
                     "frequency_coverage": analysis["frequency_coverage"], "run_dir": str(run_dir),
                     "figures": analysis["figures"]})
    lines = [f"{'p':>3} {'k':>2} {'m':>4} {'gamma*':>10} {'built/γ*':>10} {'trained/γ*':>11} {'s':>6} "
             f"{'max power':>9} {'coverage':>8}"]
    for r in rows:
        lines.append(f"{r['p']:>3} {r['k']:>2} {r['width']:>4} {r['gamma_star']:>10.4e} "
                     f"{r['construction_ratio']:>10.6f} {r['trained_ratio']:>11.6f} {r['seconds']:>6.1f} "
                     f"{r['max_power_median']:>9.4f} {r['frequency_coverage']:>8.2f}")
    lines.append(f"figures: {Path(out).resolve()}/*/figures/")
    emit(rows, as_json, "\n".join(lines))


@main.command()
@click.option("--json", "as_json", is_flag=True)
def presets(as_json: bool) -> None:
    """List the named presets and recipes."""
    emit({"presets": PRESETS, "recipes": RECIPES}, as_json,
         "\n".join(f"{name}: {spec}" for name, spec in PRESETS.items()))


@main.command()
@click.argument("spec_path", metavar="SPEC.toml", type=click.Path(dir_okay=False))
@click.option("--workers", type=int, default=1, show_default=True,
              help="parallel runs (local: processes; ray: CPUs of a local instance)")
@click.option("--backend", type=click.Choice(["local", "ray"]), default="local", show_default=True)
@click.option("--address", default=None, help="Ray cluster address (default: start a local Ray instance)")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False), default=None,
              help=f"run store root (default ${runstore.RUNS_ENV} or ./runs)")
@click.option("--plot/--no-plot", default=True, help="write RUNS/sweeps/<name>/sweep.png|svg")
@click.option("--progress/--no-progress", default=True, help="progress bar on stderr")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def sweep(spec_path, workers, backend, address, runs_dir, plot, progress, as_json) -> None:
    """Train a grid of configs x seeds (only the runs not finished yet) and aggregate over seeds.

    SPEC.toml: optional name and seeds = [..], [base] config keys (or preset), [grid] key = [values],
    optional [plot] x, y (default margin_ratio), group_by. Writes RUNS/sweeps/<name>/sweep.json and plots.
    """
    from fourier_circuits.runs.sweep import (
        aggregate,
        expand_grid,
        format_table,
        import_ray,
        load_sweep_spec,
        plot_sweep,
        run_configs,
    )
    spec = load_sweep_spec(spec_path)
    configs = expand_grid(spec["base"], spec["grid"], spec["seeds"])  # every config checked before any run
    if workers < 1:
        fail(f"--workers must be >= 1, got {workers}")
    if address is not None and backend != "ray":
        fail(f"--address {address} needs --backend ray")
    if backend == "ray":
        import_ray()
    root = runstore.runs_root(runs_dir)
    results = run_configs(configs, root, workers=workers, backend=backend, address=address, progress=progress)
    x, y, group_by = spec["plot"]["x"], spec["plot"]["y"], spec["plot"]["group_by"]
    rows = aggregate(results, x, y, group_by)
    out_dir = root / "sweeps" / spec["name"]
    figures = [str(f) for f in plot_sweep(results, x, y, out_dir / "sweep", group_by)] if plot and rows else []
    failed = [{"run_dir": r["run_dir"], "error": r["error"]} for r in results if r.get("status") == "failed"]
    summary = {"name": spec["name"], "spec": str(Path(spec_path).resolve()), "x": x, "y": y, "group_by": group_by,
               "n_runs": len(results), "rows": rows, "failed": failed, "figures": figures,
               "runs": [r["run_dir"] for r in results]}
    runstore.atomic_write_json(out_dir / "sweep.json", runstore.jsonable(summary))
    lines = [format_table(rows, x, y, group_by), f"sweep: {out_dir.resolve()}"]
    emit(summary, as_json, "\n".join(lines))
    if failed:
        fail(f"{len(failed)} of {len(results)} runs failed (see {out_dir / 'sweep.json'})", code=1)


@main.command()
@click.argument("recipe_names", metavar="[RECIPE...]", nargs=-1)
@click.option("--scale", type=click.Choice(["ci", "cpu", "paper"]), default="ci", show_default=True,
              help="ci: minutes on 2 CPU cores; cpu: about an hour; paper: the published settings "
                   "(hours on a CPU; a GPU for [LI]'s 160-head transformers)")
@click.option("--out", "out", type=click.Path(file_okay=False), default="report", show_default=True,
              help="report directory (index.html, summary.json, figures/)")
@click.option("--runs", "runs_dir", type=click.Path(file_okay=False), default=None,
              help="run store root (default $FOURIER_CIRCUITS_RUNS or ./runs); finished runs are reused")
@click.option("--workers", type=int, default=None,
              help="parallel processes for runs and their analyses [default: the CPU cores, at most 8]")
@click.option("--seed-offset", type=int, default=0, show_default=True,
              help="add N (0 <= N < 2^31) to the seed of every trained run: the same claims on other seeds")
@click.option("--list", "list_only", is_flag=True, help="list the recipes and exit")
@click.option("--progress/--no-progress", default=True, help="progress bar on stderr")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def reproduce(recipe_names, scale, out, runs_dir, workers, seed_offset, list_only, progress, as_json) -> None:
    """Reproduce the figures of [MO] and [LI] (default: every recipe, scale ci) and write an HTML report
    with a table of paper claim vs check vs measured, plus summary.json. Exit 0 even when a claim fails."""
    from fourier_circuits.reproduce.figures import FIGURE_RECIPES
    from fourier_circuits.reproduce.runner import reproduce as run_reproduce
    if list_only:
        emit({n: r.title for n, r in FIGURE_RECIPES.items()}, as_json,
             "\n".join(f"{n:18} {r.title}" for n, r in FIGURE_RECIPES.items()))
        return
    workers = min(os.cpu_count() or 1, 8) if workers is None else workers
    summary = run_reproduce(list(recipe_names), scale, out, runs_dir, workers, progress and not as_json,
                            command="fourier-circuits reproduce " + " ".join(sys.argv[2:]), seed_offset=seed_offset)
    fails = [c for c in summary["claims"] if not c["holds"]]
    lines = [f"{summary['n_hold']} of {summary['n_claims']} claims hold ({summary['seconds']:.0f} s)"]
    lines += [f"  FAILS  {c['recipe']}: {c['claim']}: expected {c['expected']}, measured {c['measured']}"
              for c in fails]
    lines += [f"  ERROR  {r['name']}: {r['error'].splitlines()[0]}" for r in summary["recipes"] if r["error"]]
    lines.append(f"report: {(Path(out) / 'index.html').resolve()}")
    emit(summary, as_json, "\n".join(lines))


@main.command()
@click.option("--ci", "ci", type=click.Path(), default=None, help="summary.json (or its report folder) of the ci scale")
@click.option("--cpu", "cpu", type=click.Path(), default=None, help="summary.json (or its report folder) of the cpu scale")
@click.option("--paper", "paper", type=click.Path(), default=None,
              help="summary.json (or its report folder) of the paper scale")
@click.option("--docs", "docs_dir", type=click.Path(file_okay=False), default="docs", show_default=True,
              help="docs folder: writes results.md and results/<scale>/")
@click.option("--readme", type=click.Path(dir_okay=False), default="README.md", show_default=True,
              help="README whose results block (between the results markers) is rewritten")
@click.option("--no-readme", is_flag=True, help="leave the README alone")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def results(ci, cpu, paper, docs_dir, readme, no_readme, as_json) -> None:
    """Write the results page (docs/results.md, its figures) and the README's results table from the
    summary.json of `reproduce` at each scale; a scale not given reads "not run"."""
    from fourier_circuits.reproduce.results import write_results
    paths = {scale: path for scale, path in (("ci", ci), ("cpu", cpu), ("paper", paper)) if path is not None}
    out = write_results(paths, docs_dir, None if no_readme else readme)
    counts = ", ".join(f"{s} {c['hold']}/{c['total']}" for s, c in out["claims"].items())
    emit(out, as_json, f"claims holding: {counts}\nwrote {out['written'][0]} and {len(out['written']) - 1} more files")


@main.command("min-width")
@click.option("--p", "p", type=str, default=None,
              help="the modulus, an odd prime; or several: a comma list and ranges A..B (the odd primes in it), "
                   "e.g. 5,7,11 or 5..31")
@click.option("--k", "k", type=int, default=2, show_default=True, help="number of inputs")
@click.option("--target", type=click.Choice(["margin", "fit"]), default="margin", show_default=True,
              help="margin: >= 0.999 γ* (fast recipe); fit: 100% accuracy on the whole population (cross-entropy)")
@click.option("--seeds", type=int, default=3, show_default=True, help="seeds per width (best of them counts)")
@click.option("--steps", type=int, default=None, help="step cap per run (default: the recipe's)")
@click.option("--start", type=str, default=None, help="walk down from this width, or 'law' (the law's width "
              "at each p; margin, k = 2 and 3) (default: the bound); if it misses the target the walk starts at "
              "the bound")
@click.option("--check/--no-check", default=True, show_default=True,
              help="self-check: retrain the widths below m_min with twice the seeds and steps")
@click.option("--workers", type=int, default=1, show_default=True,
              help="processes training trials at once (one torch thread each); the longest case first")
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None, help="also write the JSON answer here")
@click.option("--progress/--no-progress", default=True, help="progress bar on stderr")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def min_width(p, k, target, seeds, steps, start, check, workers, out, progress, as_json) -> None:
    """The smallest width m_min at which training reaches the target on k-input addition mod p, against
    [LI]'s sufficient width 2^(2k−2)(p−1) and the law (docs/min_width.md). Several primes: one answer each,
    their trials shared by --workers processes; the JSON is then {"answers": [...], "seconds", "workers"}."""
    import time

    from fourier_circuits.runs import min_width as mw
    if p is None:
        fail("min-width needs --p (an odd prime)")
    if workers < 1:
        fail(f"--workers must be >= 1, got {workers}")
    if start is not None and start != "law" and not start.isdigit():
        fail(f"--start must be a width or 'law', got {start!r}")
    cases = [mw.Case(q, k, target, seeds, check, steps, start=start if start in (None, "law") else int(start))
             for q in mw.parse_primes(p)]
    for case in cases:
        case.validate()
    est = [mw.estimate_seconds(c.p, k, target, seeds, check, steps, c.start) for c in cases]
    seconds, runs = sum(e["seconds"] for e in est) / workers, sum(e["runs"] for e in est)
    click.echo(f"min-width p={p} k={k} target {target}: about {mw.human_seconds(seconds)} "
               f"(~{runs} runs on {workers} worker{'s' * (workers > 1)}; a rough estimate)", err=True)
    t0, load = time.time(), os.getloadavg()
    answers = mw.sweep(cases, workers, progress=progress, expected_runs=runs)
    machine = {"cpus": os.cpu_count(), "workers": workers, "load_before": load, "load_after": os.getloadavg()}
    for answer, e in zip(answers, est):
        answer.update(estimate_seconds=e["seconds"], machine=machine)
    answer = answers[0] if len(cases) == 1 else {"answers": answers, "workers": workers, "machine": machine,
                                                  "seconds": round(time.time() - t0, 1),
                                                  "estimate_seconds": round(seconds, 1)}
    if out is not None:
        runstore.atomic_write_json(Path(out), runstore.jsonable(answer))
    text = "\n".join(mw.format_report(a) for a in answers)
    if len(cases) > 1:
        text += f"\n{len(cases)} cases, {workers} workers: {answer['seconds']:.0f} s"
    emit(answer, as_json, text)


if __name__ == "__main__":
    main()
