"""The Trainer's default profiler records nothing and costs no new object per hook; the config
still gives any of Lightning's profilers."""

from pathlib import Path

from hydra import compose, initialize_config_dir
from hydra.utils import instantiate
from lightning.pytorch import Trainer
from lightning.pytorch.profilers import PassThroughProfiler, SimpleProfiler

from descentlab.cli import CONF_DIR
from descentlab.profiler import NoProfiler


def profiler(*overrides: str):
    """The Trainer's profiler, as the run builds it (a string names one of Lightning's)."""
    with initialize_config_dir(config_dir=str(Path(CONF_DIR)), version_base="1.3"):
        cfg = compose("config", overrides=list(overrides))
    value = instantiate({"profiler": cfg.trainer.profiler}).profiler
    return Trainer(profiler=value, logger=False, enable_checkpointing=False).profiler


def test_default_profiler_hands_out_one_context():
    default = profiler()
    assert isinstance(default, NoProfiler)
    assert isinstance(default, PassThroughProfiler)  # what Lightning treats as "no profiler"
    first, second = default.profile("[Callback]a.on_train_batch_end"), default.profile("b")
    assert first is second  # Lightning's default makes a generator-based one per call
    with first, second:  # nested, as hooks inside hooks
        pass
    assert default.summary() == ""


def test_lightnings_profilers_still_configurable():
    assert isinstance(profiler("trainer.profiler=simple"), SimpleProfiler)
    assert isinstance(profiler("trainer.profiler=null"), PassThroughProfiler)
    assert not isinstance(profiler("trainer.profiler=null"), NoProfiler)
