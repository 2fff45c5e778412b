"""The grid sweeper: the configs it composes before launching cover every swept value."""

import subprocess
import sys
from types import SimpleNamespace

import pytest
from hydra import initialize_config_dir
from hydra._internal.callbacks import Callbacks
from hydra.core.global_hydra import GlobalHydra
from hydra.core.plugins import Plugins
from hydra.errors import ConfigCompositionException
from hydra.types import HydraContext, RunMode

from descentlab.cli import CONF_DIR, compose_config
from descentlab.sweep_config import SweepConfigLoader
from hydra_plugins.descentlab_sweeper import grid_sweeper
from hydra_plugins.descentlab_sweeper.grid_sweeper import covering

GRID = [[f"optimizer.lr={lr}", f"init.value={w0}"] for lr in range(8) for w0 in range(8)]


def overrides(jobs: list) -> set[str]:
    return {override for job in jobs for override in job}


def test_covering_an_8_by_8_grid_takes_8_of_its_jobs():
    chosen = covering(GRID)
    assert len(chosen) == 8
    assert all(job in GRID for job in chosen)
    assert overrides(chosen) == overrides(GRID)


def test_covering_keeps_overrides_that_only_some_jobs_have():
    batch = [["a=1"], ["a=1", "b=2"], ["c=3"], ["a=2", "c=3"]]
    chosen = covering(batch)
    assert overrides(chosen) == {"a=1", "a=2", "b=2", "c=3"}
    assert len(chosen) == 2  # ["a=1", "b=2"] and ["a=2", "c=3"]


@pytest.fixture
def loader():
    """Hydra's config loader over descentlab's conf/, as a sweep's main process has it."""
    with initialize_config_dir(config_dir=str(CONF_DIR), version_base="1.3"):
        yield GlobalHydra.instance().config_loader()


def sweeper(loader, compose=None) -> grid_sweeper.GridSweeper:
    """A GridSweeper whose compositions are `compose`'s, or the real ones where it is None."""
    Plugins.instance()  # Hydra's plugin scan re-imports the sweeper modules: build it after
    sweeper = grid_sweeper.GridSweeper(max_batch_size=None)
    sweeper.config = loader.load_configuration("config", [], run_mode=RunMode.MULTIRUN)
    if compose is not None:
        loader = SimpleNamespace(
            get_search_path=loader.get_search_path,
            list_groups=loader.list_groups,
            load_sweep_config=compose,
        )
    sweeper.hydra_context = SimpleNamespace(config_loader=loader)
    return sweeper


def test_values_of_one_kind_on_one_key_are_composed_once(loader):
    composed = []
    grid = sweeper(loader, lambda master_config, sweep_overrides: composed.append(sweep_overrides))
    grid.validate_batch_is_legal(GRID)
    assert len(composed) == 1  # Hydra's BasicSweeper composes all 64


def test_each_option_of_a_config_group_is_composed(loader):
    composed = []
    grid = sweeper(loader, lambda master_config, sweep_overrides: composed.append(sweep_overrides))
    batch = [[f"model={m}", f"optimizer.lr={lr}"] for m in ("linear", "mlp") for lr in range(4)]
    grid.validate_batch_is_legal(batch)
    assert len(composed) == 2
    assert {job[0] for job in composed} == {"model=linear", "model=mlp"}


def test_null_a_scalar_a_list_and_each_dict_on_one_key_are_each_composed(loader):
    composed = []
    grid = sweeper(loader, lambda master_config, sweep_overrides: composed.append(sweep_overrides))
    values = ["null", "3", "[1]", "[2]", "{points:3}", "{points:4}"]
    grid.validate_batch_is_legal([[f"callbacks.surface={v}"] for v in values])
    chosen = [job[0].split("=", 1)[1] for job in composed]
    assert len(chosen) == 5
    assert {"{points:3}", "{points:4}"} <= set(chosen)  # both dicts
    assert {"null", "3"} <= set(chosen)  # null replaces the node; a scalar is one value
    assert len({"[1]", "[2]"} & set(chosen)) == 1


@pytest.mark.parametrize(
    ("bad", "named"),
    [
        ("callbacks.surface=[1]", "callbacks.surface=[1]"),  # a list where a dict is
        ("callbacks.surface={nosuch:3}", "nosuch"),  # a dict with a key the node does not have
        ("model=nosuch", "model=nosuch: no such option"),  # an option the group does not have
    ],
)
def test_a_value_that_cannot_be_composed_is_caught_among_good_ones(loader, bad, named):
    key, value = bad.split("=", 1)
    good = {"callbacks.surface": ["null", "{points:3}"], "model": ["linear", "mlp"]}[key]
    batch = [[f"{key}={v}", f"optimizer.lr={lr}"] for v in [*good, value] for lr in (1, 2)]
    with pytest.raises(ConfigCompositionException) as caught:
        sweeper(loader).validate_batch_is_legal(batch)
    message = str(caught.value)  # one line that names what is wrong
    assert message.startswith("descentlab: error: ") and "\n" not in message
    assert named in message


def test_sweeps_use_it_and_experiments_can_still_pick_another_sweeper():
    assert compose_config([]).hydra.sweeper._target_.endswith("GridSweeper")
    assert "optuna" in compose_config(["experiment=search"]).hydra.sweeper._target_


@pytest.mark.slow
def test_a_bad_swept_value_stops_the_sweep_before_its_dir_is_made(tmp_path):
    out = tmp_path / "sweep"
    proc = subprocess.run(
        [
            *(sys.executable, "-m", "descentlab", "-m"),
            *("optimizer.lr=0.1,0.2,0.3", "model=linear,nosuch", f"hydra.sweep.dir={out}"),
        ],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [
        "descentlab: error: model=nosuch: no such option; choose one of cnn, linear, mlp"
    ]
    assert not out.exists()  # checked before Hydra made the sweep dir


def sweep_loader(loader, monkeypatch) -> tuple[SweepConfigLoader, list]:
    """A SweepConfigLoader with nothing kept yet, and the jobs it composes in full from here on
    (the others are copies of those)."""
    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    from descentlab import sweep_config

    ours = SweepConfigLoader(loader.config_search_path)
    monkeypatch.setattr(sweep_config, "COMPOSED", {})
    monkeypatch.setattr(sweep_config, "CHECKS", {})
    composed = []
    load_sweep_config = ConfigLoaderImpl.load_sweep_config

    def counted(self, master_config, overrides):
        if self is ours:
            composed.append(overrides)
        return load_sweep_config(self, master_config, overrides)

    monkeypatch.setattr(ConfigLoaderImpl, "load_sweep_config", counted)
    return ours, composed


SWEEP = ["optimizer.lr=0.1,0.5", "init.value=-2,3", "model=linear,mlp", "freeze=[],[b]"]
JOBS = [
    ["optimizer.lr=0.1", "init.value=-2", "++trainer.gradient_clip_val=1.0", "freeze=[]"],
    ["optimizer.lr=0.5", "init.value=3", "++trainer.gradient_clip_val=2.5", "freeze=[b]"],
    ["optimizer.lr=0.5", "init.value=-2", "++trainer.gradient_clip_val=1.0", "freeze=[b]"],
    ["model=mlp", "optimizer.lr=0.1", "callbacks.surface=null", "seed=${data.n}"],
    ["model=mlp", "optimizer.lr=0.5", "callbacks.surface=null", "seed=4"],
    ["model=mlp", "optimizer.lr=0.5", "callbacks.surface={points:3}", "seed=4"],
    ["model=mlp", "optimizer.lr=0.5", "~callbacks.surface", "seed=4"],
    ["optimizer.lr=0.1", "optimizer.lr=0.2"],  # the same key twice: the last one holds
    ["optimizer.lr=0.5", "optimizer.lr=0.3"],
    ["+trainer.gradient_clip_val=1.0", "optimizer.lr=0.1"],  # + checks the key is not there yet
    ["+trainer.gradient_clip_val=2.0", "optimizer.lr=0.2"],
]


def test_a_sweeps_jobs_get_the_configs_hydra_composes_composing_each_shape_once(
    loader, monkeypatch
):
    """Jobs that differ from one composed before only in plain values get that config with
    their values applied: the same configs, Hydra's own settings for the job included (its
    overrides, its dir name), as composing each from scratch."""
    from omegaconf import OmegaConf

    master = loader.load_configuration("config", SWEEP, run_mode=RunMode.MULTIRUN)
    ours, composed = sweep_loader(loader, monkeypatch)
    for job in JOBS + JOBS:
        config = ours.load_sweep_config(master, job)
        expected = loader.load_sweep_config(master, job)
        assert OmegaConf.to_container(config) == OmegaConf.to_container(expected), job
        assert OmegaConf.to_container(config.hydra.overrides.task) == job
    # the first of each shape (a dict: of each one); a deletion, a key set twice and a key
    # added with +, every time
    assert composed == [JOBS[0], JOBS[3], *JOBS[5:11], *JOBS[6:11]]


def test_a_process_lists_the_config_groups_once_for_all_its_batches_of_jobs(loader, monkeypatch):
    """Telling plain values from config groups lists the groups (~5 ms) once in a process, not
    once for each value swept, also in a joblib worker, which gets a fresh copy of the loader
    with each batch of jobs."""
    import pickle

    from hydra._internal.config_loader_impl import ConfigLoaderImpl

    master = loader.load_configuration("config", SWEEP, run_mode=RunMode.MULTIRUN)
    ours, _ = sweep_loader(loader, monkeypatch)
    listed = []
    list_groups = ConfigLoaderImpl.list_groups

    def counted(self, parent_name):
        listed.append(parent_name)
        return list_groups(self, parent_name)

    monkeypatch.setattr(ConfigLoaderImpl, "list_groups", counted)
    for batch in (JOBS[:3], JOBS[2:6]):
        worker_loader = pickle.loads(pickle.dumps(ours))  # as the batch reaches a worker
        for job in batch:
            worker_loader.load_sweep_config(master, job)
    assert listed == [""]


def test_sweeps_hand_their_launcher_the_loader_that_composes_each_shape_once(loader):
    Plugins.instance()
    grid = grid_sweeper.GridSweeper(max_batch_size=None)
    config = loader.load_configuration("config", SWEEP, run_mode=RunMode.MULTIRUN)
    context = HydraContext(config_loader=loader, callbacks=Callbacks())
    grid.setup(hydra_context=context, task_function=lambda cfg: None, config=config)
    assert isinstance(grid.launcher.hydra_context.config_loader, SweepConfigLoader)
    assert grid.hydra_context.config_loader is grid.launcher.hydra_context.config_loader


@pytest.mark.parametrize(
    "jobs",
    [
        # a group only the search path has: listing the groups does not see it
        [["+augment=none", "optimizer.lr=0.1"], ["+augment=flip", "optimizer.lr=0.2"]],
        # a key, then its parent: composing applies them in their order
        [
            ["callbacks.surface.points=4", "callbacks.surface={points:2}"],
            ["callbacks.surface.points=8", "callbacks.surface={points:2}"],
        ],
    ],
)
def test_jobs_whose_config_only_composing_gets_right_are_each_composed(
    loader, monkeypatch, tmp_path, jobs
):
    from omegaconf import OmegaConf

    (tmp_path / "augment").mkdir()
    for option in ("none", "flip"):
        (tmp_path / "augment" / f"{option}.yaml").write_text(f"name: {option}\n")
    searchpath = f"hydra.searchpath=[file://{tmp_path}]"
    master = loader.load_configuration("config", [searchpath], run_mode=RunMode.MULTIRUN)
    ours, composed = sweep_loader(loader, monkeypatch)
    for job in jobs:
        config = ours.load_sweep_config(master, job)
        expected = loader.load_sweep_config(master, job)
        assert OmegaConf.to_container(config) == OmegaConf.to_container(expected), job
    assert composed == jobs


def test_a_later_sweep_in_the_same_process_reuses_no_config(loader, monkeypatch):
    ours, composed = sweep_loader(loader, monkeypatch)
    dirs = []
    for _ in range(2):  # the same command twice: each sweep in a dir of its own (${now:…})
        master = loader.load_configuration("config", [], run_mode=RunMode.MULTIRUN)
        dirs.append(str(master.hydra.sweep.dir))
        ours.load_sweep_config(master, ["optimizer.lr=0.1"])
        config = ours.load_sweep_config(master, ["optimizer.lr=0.2"])
        assert config.optimizer.lr == 0.2
    assert dirs[0] != dirs[1]
    assert composed == [["optimizer.lr=0.1"], ["optimizer.lr=0.1"]]
