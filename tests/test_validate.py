"""Bad input is refused before anything is built, with the key and what it allows."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from descentlab.cli import one_line, precheck


@pytest.fixture
def check(tmp_path: Path):
    def run(*overrides: str) -> None:
        precheck([f"hydra.run.dir={tmp_path / 'run'}", *overrides])

    return run


def error_of(check, *overrides: str) -> str:
    with pytest.raises(Exception) as caught:
        check(*overrides)
    return one_line(caught.value)


def test_the_defaults_pass(check):
    check()
    check(
        "optimizer=adam", "init=normal", "scheduler=none", "model.bias=true", "data.batch_size=32"
    )
    check(  # a callback of Lightning's that watches a logged metric; event files in a subdir
        "+callbacks.stop._target_=lightning.pytorch.callbacks.EarlyStopping",
        "+callbacks.stop.monitor=val/r2",
        "+callbacks.stop.mode=max",
        "logger.name=tb",
        "logger.version=1",
    )
    check(  # the checkpoints of the last 2 steps validated: Lightning's own idiom
        "+callbacks.checkpoint.monitor=step",
        "+callbacks.checkpoint.mode=max",
        "callbacks.checkpoint.save_top_k=2",
    )


@pytest.mark.parametrize(
    "override, expected",
    [
        ("optimizer.lr=0", "optimizer.lr=0: must be a number > 0"),
        ("optimizer.lr=-0.1", "optimizer.lr=-0.1: must be a number > 0"),
        ("optimizer.lr=fast", "optimizer.lr=fast: must be a number > 0"),
        ("data.n=0", "data.n=0: must be an integer ≥ 3"),
        ("data.n=2", "data.n=2: must be an integer ≥ 3 (≥ 2 samples for validation, as"),
        ("data.n=12.5", "data.n=12.5: must be an integer"),
        ("data.noise=-1", "data.noise=-1: must be a number ≥ 0"),
        ("data.x_dist=cauchy", "data.x_dist=cauchy: must be one of normal, uniform"),
        ("trainer.max_steps=-1", "trainer.max_steps=-1: must be an integer ≥ 1"),
        ("trainer.max_steps=0", "trainer.max_steps=0: must be an integer ≥ 1"),
        ("trainer.max_steps=5", "trainer.val_check_interval=10: must be ≤ trainer.max_steps=5"),
        ("seed=-3", "seed=-3: must be an integer in [0, 2**32)"),
        ("scheduler.factor=2", "scheduler.factor=2: must be a number in (0, 1)"),
        ("scheduler.monitor=val/los", "scheduler.monitor=val/los: must be one of val/loss"),
        ("init=uniform init.a=1 init.b=0", "init.a=1, init.b=0: must satisfy init.a < init.b"),
        ("optimizer=sgd_fast", "optimizer=sgd_fast: no such option; choose one of adam, sgd"),
        (
            "init=he",
            "init=he: no such option; choose one of constant, kaiming_normal, none, normal",
        ),
        ("scheduler=cosine", "scheduler=cosine: no such option; choose one of none, plateau"),
        ("model=mlp9", "model=mlp9: no such option; choose one of cnn, linear, mlp"),
        ("data.nn=3", "data.nn: no such key; did you mean data.n? data has w_true, b_true, n, no"),
        # a misspelt key, at any depth: the closest existing key, and what the level holds
        ("optimzer.lr=0.1", "optimzer.lr: no such key; did you mean optimizer.lr? the config has"),
        ("optimzer=adam", "optimzer: no such key; did you mean optimizer? the config has hydra"),
        ("trainer.max_step=5", "trainer.max_step: no such key; did you mean trainer.max_steps?"),
        ("foo.bar=1", "foo.bar: no such key; the config has hydra, model, criterion, metrics"),
        ("trainer.foo.bar=1", "trainer.foo.bar: no such key; trainer has max_steps, val_check_"),
        ("+trainer.max_step=3", "trainer.max_step: not an argument of lightning.pytorch.Trainer"),
        (
            "+optimizer.momentum=0.9",
            "+optimizer.momentum=0.9: optimizer.momentum is in the config already; "
            "optimizer.momentum=0.9 sets it",
        ),
        (
            "+optimizer.momentum='0.9'",
            "+optimizer.momentum='0.9': optimizer.momentum is in the config already; "
            "optimizer.momentum='0.9' sets it",
        ),
        ("+optimizer.beta=3", "optimizer.beta: not an argument of torch.optim.SGD"),
        ("ckpt_path=/no/such/last.ckpt", "ckpt_path=/no/such/last.ckpt: no such file"),
        (
            "model._target_=no.such.Model",
            "model._target_=no.such.Model: cannot import it (No module named 'no'; a module of "
            "your own: put its dir on PYTHONPATH (PYTHONPATH=. for this dir))",
        ),
        (
            "model._target_=descentlab.models.nope.Model",
            "model._target_=descentlab.models.nope.Model: cannot import it (No module named "
            "'descentlab.models.nope')",
        ),
        ("data._target_=.x.Data", "data._target_=.x.Data: must be a full dotted path, module"),
        ("model._target_=Model", "model._target_=Model: must be a full dotted path, module.Name"),
        ("freeze=[c]", "freeze=['c']: the model has no parameter c; it has w"),
        ("freeze=[w]", "freeze=['w']: that is every parameter; nothing would train"),
        ("explain=-1", "explain=-1: must be an integer ≥ 0"),
        ("hydra.job.chdir=abc", "hydra.job.chdir=abc: must be true or false"),  # Hydra's own
        ("logger.max_queue=0", "logger.max_queue=0: must be an integer ≥ 1"),
        ("logger.save_every=-1", "logger.save_every=-1: must be a number ≥ 0 (seconds)"),
        ("+logger.flush_secs=abc", "logger.flush_secs=abc: must be a number > 0 (seconds)"),
        ("+logger.filename_suffix=1", "logger.filename_suffix=1: must be a string"),
        ("logger.save_dir=null", "logger.save_dir=null: must be a dir's path"),
        (
            "logger.version=../earlier",
            "logger.version=../earlier: must be an integer, or a name or relative path inside "
            "logger.save_dir (no ..)",
        ),
        ("logger.name=/tmp/earlier", "logger.name=/tmp/earlier: must be a name or relative path"),
        ("data.seed=abc", "data.seed=abc: must be an integer in [0, 2**32)"),
        (
            "callbacks.surface.seed=-1",
            "callbacks.surface.seed=-1: must be an integer in [0, 2**32)",
        ),
        ("+optimizer.maximize=abc", "optimizer.maximize=abc: must be true or false"),
        ("+trainer.overfit_batches=1", "trainer.overfit_batches=1: must be 0: a run is one epoch"),
        (
            "+trainer.limit_val_batches=abc",
            "trainer.limit_val_batches=abc: must be null, an integer ≥ 0 (batches) or a number",
        ),
        (
            "+callbacks.checkpoint.monitor=val/acc",
            "callbacks.checkpoint.monitor=val/acc: must be one of val/loss, val/mse, val/r2",
        ),
        (
            "+callbacks.stop._target_=lightning.pytorch.callbacks.EarlyStopping "
            "+callbacks.stop.monitor=val/los",
            "callbacks.stop.monitor=val/los: must be one of val/loss, val/mse, val/r2",
        ),
        (
            "scheduler.monitor=val/r2",
            "scheduler.mode=min: val/r2 is better higher; set scheduler.mode=max",
        ),
        (
            "data=digits model=mlp init=none metrics=classification "
            "+callbacks.checkpoint.monitor=val/acc callbacks.checkpoint.save_top_k=1",
            "callbacks.checkpoint.mode=min: val/acc is better higher; set "
            "callbacks.checkpoint.mode=max",
        ),
        (
            "scheduler.monitor=val/mse scheduler.mode=max",
            "scheduler.mode=max: val/mse is better lower; set scheduler.mode=min",
        ),
        (
            "experiment=overshoot scheduler.patience=3",
            "scheduler.patience: no such key; scheduler=none has no keys; scheduler=plateau has it",
        ),
        (
            "callbacks.progress_bar.refresh_rate=0.5",
            "callbacks.progress_bar.refresh_rate=0.5: must be an integer ≥ 0",
        ),
        (
            "data=digits",
            "model=linear: f(x) = w·x takes one input and this data has data.in_features=64",
        ),
        (
            "~logger",
            "logger: none, but callbacks.step_scalars, callbacks.hparams, callbacks.gradients "
            "write to TensorBoard; keep logger=tensorboard, or also set "
            "callbacks.step_scalars=null callbacks.hparams=null callbacks.gradients=null",
        ),
        # config groups given something other than an option
        ("optimizer=[1]", "optimizer=[1]: must be one of adam, sgd (~optimizer"),  # TypeError
        (
            "callbacks.surface=[1]",
            "callbacks.surface=[1]: callbacks.surface is a group of keys, not a value; "
            "set one of its keys: callbacks.surface.<key>=…",
        ),
        ("metrics=null", "metrics=null: must be one of classification, regression (~metrics"),
        ("=0.1", "every override needs a key: key=value"),
        ("optimizer.lr.x=1", "optimizer.lr.x: no such key; optimizer.lr is a value"),
        ("hydra.foo=1", "hydra.foo: no such key; hydra has run, sweep,"),
        ("+foo=1", "foo: nothing reads this key; the config has model, criterion"),
        ("optimizer.lr=0.1,0.2", "optimizer.lr=0.1,0.2: several values make a sweep; add -m"),
        # Hydra ignores a launcher or sweeper outside a sweep
        ("hydra/launcher=joblib", "hydra/launcher=joblib: sets how a sweep runs its jobs, and th"),
        ("hydra/sweeper=basic", "hydra/sweeper=basic: sets how a sweep runs its jobs, and this"),
        ("+model=mlp", "+model=mlp: model has an option already; model=mlp picks another"),
        (
            "optimizer.lr=[0.1",
            "optimizer.lr=[0.1: not an override Hydra can read (no viable alternative at input",
        ),
        (  # without the grammar's list of every token it expected
            "optimizer.lr=0.1,",
            "optimizer.lr=0.1,: not an override Hydra can read (mismatched input '<EOF>'); see",
        ),
        # keys removed that the run reads
        ("~model._target_", "model: needs a _target_, the class it builds (model._target_="),
        ("~data", "data: required; choose one of digits, linear, nonlinear (data=<option>)"),
        ("~seed", "seed: required (conf/ sets it); set a value instead of ~seed"),
        ("~trainer.max_steps", "trainer.max_steps: required"),
        (
            "~optimizer.lr",
            "optimizer.lr: required (callbacks.hparams.params.optimizer.lr reads it); set a "
            "value instead of ~optimizer.lr",
        ),
        # values of the wrong type or range
        ("optimizer.lr='0.1'", "optimizer.lr='0.1': must be a number > 0"),
        ("ckpt_path=5", "ckpt_path=5: must be null or a checkpoint's path"),
        ("freeze=null", "freeze=null: must be a list of parameter names"),
        ("model.bias=maybe", "model.bias=maybe: must be true or false"),
        ("data.w_true=nan", "data.w_true=nan: must be a number"),
        ("criterion.reduction=none", "criterion.reduction=none: must be one of mean, sum"),
        ("scheduler.threshold_mode=foo", "scheduler.threshold_mode=foo: must be one of rel, abs"),
        ("trainer.log_every_n_steps=abc", "trainer.log_every_n_steps=abc: must be an integer"),
        ("+trainer.max_epochs=abc", "trainer.max_epochs=abc: must be null, -1 or an integer ≥ 1"),
        ("+trainer.max_epochs=0", "trainer.max_epochs=0: must be null, -1 or an integer ≥ 1"),
        (
            "+trainer.accumulate_grad_batches=0",
            "trainer.accumulate_grad_batches=0: must be an integer ≥ 1",
        ),
        (
            "+trainer.limit_train_batches=5",
            "trainer.limit_train_batches=5: must be null or 1.0: a run is one epoch of "
            "trainer.max_steps batches; set that instead",
        ),
        (
            "+trainer.logger=false",
            "trainer.logger: set from its own config group; use logger=tensorboard or ~logger",
        ),
        ("+trainer.callbacks=[]", "trainer.callbacks: set from its own config group; use the"),
        (
            "+trainer.enable_checkpointing=false",
            "trainer.enable_checkpointing: set from its own config group; use "
            "callbacks.checkpoint=null",
        ),
        # sizes that conf/ makes follow the data, set to others
        (
            "data=digits model=mlp model.in_features=10",
            "model.in_features=10: data=digits has data.in_features=64; leave it to follow",
        ),
        (
            "data=digits model=cnn metrics.acc.num_classes=5",
            "metrics.acc.num_classes=5: data=digits has data.out_features=10; leave it",
        ),
        (
            "metrics.r2=5",
            "metrics.r2=5: must be a metric's config, with its _target_ (metrics.r2=null leaves",
        ),
        ("callbacks.explain.steps=abc", "callbacks.explain.steps=abc: must be an integer ≥ 0"),
        (
            "init=kaiming_normal init.nonlinearity=foo",
            "init.nonlinearity=foo: must be one of linear, conv1d",
        ),
        ("optimizer=adam optimizer.betas=[2,3]", "optimizer.betas=[2, 3]: must be two numbers"),
        ("optimizer.nesterov=true", "optimizer.nesterov=true: needs optimizer.momentum > 0"),
        (  # the plateau scheduler's frequency follows it: the error names the key set
            "trainer.val_check_interval=0.5",
            "trainer.val_check_interval=0.5: must be an integer ≥ 1",
        ),
        (
            "data=nonlinear model=mlp model.widths=[]",
            "model.widths=[]: must be a non-empty list of integers ≥ 1",
        ),
        (
            "data=digits model=cnn model.channels=[0]",
            "model.channels=[0]: must be a non-empty list of integers ≥ 1",
        ),
        # sizes that leave a set too small
        ("data.n=3", "data.n=3, data.val_fraction=0.25: 1 validation sample; must be ≥ 2"),
        ("data.batch_size=1000", "data.batch_size=1000: must be ≤ 192, the training set's size"),
        (
            "data=digits model=mlp data.val_fraction=0.5 data.test_fraction=0.6",
            "data.val_fraction + data.test_fraction = 1.1: must be < 1",
        ),
        # options that do not go together
        (
            "model=mlp",
            "model.in_features=${data.in_features}: this config has no data.in_features "
            "(with data=linear); choose data=digits or data=nonlinear",
        ),
        (
            "metrics=classification",
            "metrics=classification: for classification, and data=linear is regression; "
            "choose metrics=regression",
        ),
        (
            "data=digits model=mlp criterion=mse",
            "criterion=mse: for regression, and data=digits is classification; choose "
            "criterion=cross_entropy",
        ),
        (
            "data=digits model=mlp metrics=regression",
            "metrics=regression: for regression, and data=digits is classification; "
            "choose metrics=classification",
        ),
        (
            "data=nonlinear model=mlp criterion=cross_entropy",
            "criterion=cross_entropy: for classification, and data=nonlinear is regression; "
            "choose criterion=mse",
        ),
    ],
)
def test_bad_input_names_the_key_and_what_is_allowed(check, override, expected):
    message = error_of(check, *override.split())
    assert expected in message
    assert "\n" not in message


def test_each_option_of_a_swept_group_is_composed_before_the_sweep(tmp_path: Path):
    """adam has no momentum: its job would fail once the sweep is under way, in Hydra's
    words, leaving the sweep dir behind."""
    sweep = ["-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", "optimizer=sgd,adam"]
    with pytest.raises(Exception) as caught:
        precheck([*sweep, "optimizer.momentum=0.9"])
    assert one_line(caught.value).startswith(
        "in the job with optimizer=adam: optimizer.momentum: no such key; optimizer has lr"
    )  # names the option that lacks it
    assert not (tmp_path / "sweep").exists()
    precheck([*sweep, "optimizer.lr=0.5"])


def test_config_printing_shows_one_config():
    with pytest.raises(Exception) as caught:
        precheck(["--cfg", "job", "optimizer.lr=0.1,0.2"])
    assert one_line(caught.value) == (
        "optimizer.lr=0.1,0.2: several values make a sweep; --cfg shows one config"
    )


def test_joblib_needs_workers(tmp_path: Path):
    sweep = ["-m", f"hydra.sweep.dir={tmp_path}", "hydra/launcher=joblib", "seed=0,1"]
    with pytest.raises(Exception) as caught:
        precheck([*sweep, "hydra.launcher.n_jobs=0"])
    assert one_line(caught.value).startswith("hydra.launcher.n_jobs=0: must be an integer ≥ 1")
    precheck([*sweep, "hydra.launcher.n_jobs=-1"])


@pytest.mark.parametrize(
    "what, flag", [("run", ""), ("sweep", "-m"), ("sweep", "experiment=lr_grid")]
)
def test_a_dir_that_holds_files_is_refused(tmp_path: Path, what, flag):
    """Any file, not only a finished run's: a results.json of the user's own, a sweep's."""
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "results.json").write_text("{}")
    with pytest.raises(Exception) as caught:
        precheck([*flag.split(), f"hydra.{what}.dir={tmp_path / 'old'}"])
    assert one_line(caught.value) == (
        f"hydra.{what}.dir={tmp_path / 'old'}: already holds files; choose a new dir "
        "(nothing is overwritten)"
    )
    # through a dir not made yet: Hydra makes `new/../old`, which is `old`
    through = f"{tmp_path / 'new'}/../old"
    with pytest.raises(Exception) as caught:
        precheck([*flag.split(), f"hydra.{what}.dir={through}"])
    assert one_line(caught.value).startswith(f"hydra.{what}.dir={through}: already holds files")
    (tmp_path / "file").write_text("")
    with pytest.raises(Exception) as caught:
        precheck([*flag.split(), f"hydra.{what}.dir={tmp_path / 'file'}"])
    assert (
        one_line(caught.value)
        == f"hydra.{what}.dir={tmp_path / 'file'}: is a file; choose a new dir"
    )
    with pytest.raises(Exception) as caught:  # a dir below a file cannot be made
        precheck([*flag.split(), f"hydra.{what}.dir={tmp_path / 'file' / 'new'}"])
    assert one_line(caught.value) == (
        f"hydra.{what}.dir={tmp_path / 'file' / 'new'}: cannot be made here "
        f"({tmp_path / 'file'} is a file)"
    )
    precheck([*flag.split(), f"hydra.{what}.dir={tmp_path / 'new'}"])
    (tmp_path / "empty").mkdir()
    precheck([*flag.split(), f"hydra.{what}.dir={tmp_path / 'empty'}"])


def test_sweep_jobs_need_dirs_of_their_own(tmp_path: Path):
    with pytest.raises(Exception) as caught:
        precheck(["-m", f"hydra.sweep.dir={tmp_path}", "seed=0,1", "hydra.sweep.subdir=same"])
    assert one_line(caught.value).startswith("hydra.sweep.subdir=same: must differ from job to job")
    precheck(
        ["-m", f"hydra.sweep.dir={tmp_path}", "seed=0,1", "hydra.sweep.subdir=j${hydra.job.num}"]
    )


@pytest.mark.parametrize(
    "subdir, why",
    [
        ("lr_${optimizer.lr}", "(it does not name init.value, which the sweep varies)"),
        ("../other/${hydra.job.num}", "must stay inside hydra.sweep.dir"),
        ("/tmp/${hydra.job.num}", "must stay inside hydra.sweep.dir"),
    ],
)
def test_sweep_jobs_cannot_share_a_dir_or_leave_the_sweeps(tmp_path: Path, subdir, why):
    """Two swept keys and a subdir that names one: jobs 0 and 2 would write into one dir; a
    subdir out of the new sweep dir could land in an earlier run's."""
    sweep = ["-m", f"hydra.sweep.dir={tmp_path}", "optimizer.lr=0.1,0.2", "init.value=0,1"]
    with pytest.raises(Exception) as caught:
        precheck([*sweep, f"hydra.sweep.subdir={subdir}"])
    assert one_line(caught.value).startswith(f"hydra.sweep.subdir={subdir}: ")
    assert why in one_line(caught.value)
    precheck([*sweep, "hydra.sweep.subdir=lr_${optimizer.lr}_w${init.value}"])


@pytest.mark.parametrize(
    "values, subdir, expected",
    [
        (
            "optimizer.lr=0.1,0.10,0.2",
            "lr_${optimizer.lr}",
            "optimizer.lr: 2 of its values read 0.1 in hydra.sweep.subdir=lr_${optimizer.lr}; "
            "those jobs would share a dir",
        ),
        (
            "seed=1,2",
            "${oc.env:HOME}/${hydra.job.num}",
            "hydra.sweep.subdir=${oc.env:HOME}/${hydra.job.num}: a resolver's value could lead "
            "out of hydra.sweep.dir; name config keys, ${now:…}, or ${hydra.job.num}",
        ),
    ],
)
def test_a_subdir_that_two_jobs_or_an_earlier_run_would_share_is_refused(
    tmp_path: Path, values, subdir, expected
):
    sweep = ["-m", f"hydra.sweep.dir={tmp_path}", values]
    with pytest.raises(Exception) as caught:
        precheck([*sweep, f"hydra.sweep.subdir={subdir}"])
    assert one_line(caught.value) == expected
    precheck([*sweep, "hydra.sweep.subdir=${hydra.job.num}"])  # the same values, a dir each
    precheck([*sweep, "hydra.sweep.subdir=${now:%H%M%S%f}_${hydra.job.num}"])  # a time: inside


@pytest.mark.parametrize(
    "key", ["callbacks.checkpoint.dirpath", "logger.save_dir", "trainer.default_root_dir"]
)
def test_checkpoints_and_logs_sent_elsewhere_need_a_new_dir_too(tmp_path: Path, key):
    """An earlier run's checkpoints dir or run dir, given as where this run writes its
    checkpoints, event files or surface figures: refused, its files untouched."""
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / "last.ckpt").write_bytes(b"an earlier run's")
    run = [f"hydra.run.dir={tmp_path / 'run'}"]
    with pytest.raises(Exception) as caught:
        precheck([*run, f"{key}={earlier}"])
    assert one_line(caught.value) == (
        f"{key}={earlier}: already holds files; choose a new dir (nothing is overwritten)"
    )
    precheck([*run, f"{key}={tmp_path / 'new'}"])


def test_informational_flags_print_any_config_that_composes():
    precheck(["--cfg", "job", "optimizer.lr=-1"])  # printing a config is not running it
    precheck(["--help", "optimizer.lr=-1"])
    for flag in (["--cfg", "job"], ["--help"]):
        with pytest.raises(Exception) as caught:
            precheck([*flag, "foo=1"])  # Hydra's own: seven lines, or a traceback for --help
        assert one_line(caught.value).startswith("foo: no such key; the config has")


@pytest.mark.parametrize(
    "overrides, expected",
    [
        ("optimizer.lr=-1,1", "optimizer.lr=-1: must be a number > 0"),
        ("optimizer.lr=0.1,abc", "optimizer.lr=abc: must be a number > 0"),
        ("seed=0,1 optimizer.lr=-1", "optimizer.lr=-1: must be a number > 0"),
        ("model=linear,nosuch", "model=nosuch: no such option; choose one of cnn, linear, mlp"),
        ("foo=1,2", "foo: no such key; the config has"),
        ("+foo=1,2", "foo: nothing reads this key"),
        ("optimizer.lr.x=1,2", "optimizer.lr.x: no such key; optimizer.lr is a value"),
        (
            "callbacks.surface=[1],null",
            "callbacks.surface=[1]: callbacks.surface is a group of keys, not a value",
        ),
        ("metrics=null seed=0,1", "metrics=null: must be one of classification, regression"),
        (  # not the first value: each value is put with what it must fit
            "trainer.max_steps=20,5",
            "trainer.val_check_interval=10: must be ≤ trainer.max_steps=5",
        ),
        (
            "optimizer.lr=interval(0.1,1)",
            "optimizer.lr=interval(0.1,1): an interval is searched, not swept; use "
            "experiment=search",
        ),
        (
            "seed=0,1 hydra.sweeper.max_batch_size=0",
            "hydra.sweeper.max_batch_size=0: must be null or an integer ≥ 1",
        ),
        (
            "seed=0,1 hydra/launcher=joblib hydra.launcher.batch_size=0",
            "hydra.launcher.batch_size='0': must be auto or an integer ≥ 1",
        ),
        (
            "seed=0,1 hydra/launcher=joblib hydra.launcher.pre_dispatch=0",
            "hydra.launcher.pre_dispatch='0': must be all, or a number ≥ 1 of jobs queued",
        ),
        (
            "seed=0,1 hydra/launcher=joblib hydra.launcher.pre_dispatch=n_jobs**99",
            "hydra.launcher.pre_dispatch=n_jobs**99: must be all, or a number ≥ 1 of jobs",
        ),
        (
            "seed=0,1 hydra/launcher=joblib hydra.launcher.prefer=threads",
            "hydra.launcher.prefer=threads: must be processes (Hydra's joblib launcher always",
        ),
        (
            "seed=0,1 hydra/launcher=submitit_local hydra.launcher.timeout_min=0",
            "hydra.launcher.timeout_min=0: must be an integer ≥ 1 (minutes)",
        ),
        (
            "experiment=search hydra.sweeper.direction=[minimize,maximize]",
            "hydra.sweeper.direction=['minimize', 'maximize']: must be minimize or maximize (a "
            "run returns one number",
        ),
        ("experiment=search hydra.sweeper.n_trials=0", "hydra.sweeper.n_trials=0: must be an"),
        (
            "seed=0,1 hydra/launcher=basic,joblib",
            "hydra/launcher=basic,joblib: Hydra's own settings take one value a sweep; run one",
        ),
        (  # OmegaConf's merge fails inside Hydra: an AttributeError, an AssertionError
            'seed=0,1 hydra.sweeper.params={optimizer.lr:"0.1,0.2"}',
            'hydra.sweeper.params={optimizer.lr:"0.1,0.2"}: Hydra cannot compose this',
        ),
        (
            "seed=0,1 ++hydra.sweeper.params.x=1",
            "++hydra.sweeper.params.x=1: Hydra cannot compose this (AssertionError",
        ),
        ("experiment=search hydra.sweeper.n_jobs=0", "hydra.sweeper.n_jobs=0: must be an"),
        (
            "experiment=search hydra.sweeper.sampler.seed=-1",
            "hydra.sweeper.sampler.seed=-1: must be null or an integer",
        ),
    ],
)
def test_a_sweep_checks_each_value_it_sets_or_sweeps_before_it_starts(
    tmp_path: Path, overrides, expected
):
    with pytest.raises(Exception) as caught:
        precheck(["-m", f"hydra.sweep.dir={tmp_path}", *overrides.split()])
    message = one_line(caught.value)
    assert message.startswith(expected)
    assert "\n" not in message


def test_a_sweepers_and_a_launchers_own_settings_that_work_pass(tmp_path: Path):
    sweep = ["-m", f"hydra.sweep.dir={tmp_path}"]
    precheck([*sweep, "seed=0,1", "hydra/launcher=joblib", "hydra.launcher.batch_size=4"])
    for pre_dispatch in ("all", "8", "2*n_jobs", "3 * n_jobs", "1.5*n_jobs", "n_jobs*2+1"):
        joblib = ["hydra/launcher=joblib", f"hydra.launcher.pre_dispatch={pre_dispatch}"]
        precheck([*sweep, "seed=0,1", *joblib])
    precheck([*sweep, "hydra/sweeper=optuna", "optimizer.lr=interval(0.01,1)"])  # its enum
    precheck([*sweep, "experiment=search", "hydra.sweeper.direction=maximize"])


def test_an_experiment_that_sweeps_is_checked_as_a_sweep(tmp_path: Path):
    """experiment=lr_grid sets hydra.mode=MULTIRUN: values to sweep need no -m there."""
    precheck(["experiment=lr_grid", f"hydra.sweep.dir={tmp_path}", "optimizer.lr=0.1,1.5"])
    with pytest.raises(Exception) as caught:
        precheck(["experiment=lr_grid", f"hydra.sweep.dir={tmp_path}", "optimizer.lr=0.1,-1"])
    assert one_line(caught.value) == "optimizer.lr=-1: must be a number > 0"


@pytest.mark.parametrize(
    "override, expected",
    [
        ("optimizer.lrr=1", "optimizer.lrr: no such key; did you mean optimizer.lr? optimizer"),
        ("optimizer=rmsprop", "optimizer=rmsprop: no such option; choose one of adam, sgd"),
        ("model=mlp,linear model.widths=[8]", "model.widths: no such key; model has bias"),
    ],
)
def test_a_sweep_composes_what_its_jobs_share_first(tmp_path: Path, override, expected):
    """Hydra composes the sweep's config from the overrides that sweep nothing before it
    launches; composed here first, a bad one ends in one line as a single run's does."""
    with pytest.raises(Exception) as caught:
        precheck(["-m", f"hydra.sweep.dir={tmp_path}", "init.value=1,2", *override.split()])
    message = one_line(caught.value)
    assert expected in message
    assert "\n" not in message


@pytest.mark.parametrize(
    "flags, expected",
    [
        ("--cfg jobs", "argument --cfg/-c: invalid choice: "),
        ("--multi-run optimizer.lr=1", "unrecognized arguments: --multi-run"),
    ],
)
def test_a_flag_hydra_does_not_have_is_one_line(check, flags, expected):
    message = error_of(check, *flags.split())
    assert message.startswith(expected)
    assert message.endswith("; descentlab --help lists the flags")
    assert "\n" not in message


def test_pre_dispatch_is_read_as_joblib_reads_it_and_any_text_is_a_yes_or_no():
    from descentlab.rules import is_pre_dispatch

    for text in ("all", "8", "2*n_jobs", "3 * n_jobs", "1.5*n_jobs", "n_jobs*2+1", "n_jobs//1"):
        assert is_pre_dispatch(text), text
    too_long = ("1" + "0" * 400, "+".join(["1"] * 100_000), "-" * 100_000 + "1")
    for text in ("0", "-1", "2000000", "1e308*10", "n_jobs**99", "n_jobs%2", "abc", *too_long):
        assert not is_pre_dispatch(text), text[:40]
    assert not is_pre_dispatch("__import__('os').getcwd()")  # no names, no calls


def test_two_of_hydras_modes_at_once_are_one_line():
    """-m with --cfg (or --info, --run …): Hydra's own refusal is a ValueError's traceback."""
    for flags, given in (
        (["-m", "--cfg", "job"], "--multirun with --cfg"),
        (["--cfg", "job", "--info", "all"], "--cfg with --info"),
    ):
        with pytest.raises(Exception) as caught:
            precheck([*flags, "optimizer.lr=0.1,1"])
        assert one_line(caught.value) == (
            f"{given}: Hydra runs one of --run, --multirun, --cfg, --info, --shell-completion "
            "at a time"
        )
    precheck(["--cfg", "job", "optimizer.lr=0.1"])  # one at a time passes
    precheck(["--help", "-m", "--cfg", "job"])  # help first, as Hydra prints it


def test_several_nodes_where_no_cluster_started_this_process_are_refused(check, monkeypatch):
    """Lightning would wait in its first collective call for nodes that never come."""
    from descentlab.validate import STARTED_ON_NODES

    for name in (*STARTED_ON_NODES, "NODE_RANK"):
        monkeypatch.delenv(name, raising=False)
    assert error_of(check, "trainer.num_nodes=2").startswith(
        "trainer.num_nodes=2: this process was not started as one of 2 nodes"
    )
    monkeypatch.setenv("NODE_RANK", "0")  # a launch by hand, with MASTER_ADDR: left to it
    check("trainer.num_nodes=2")


def test_gpu_without_a_gpu_is_refused(check):
    import torch

    if torch.cuda.is_available():
        pytest.skip("a GPU is visible")
    assert "no GPU is visible here" in error_of(check, "trainer.accelerator=gpu")


@pytest.mark.parametrize("accelerator", ["mps", "tpu"])
def test_an_accelerator_that_is_not_here_is_refused_by_its_key(check, accelerator):
    from lightning.pytorch.accelerators import AcceleratorRegistry

    if AcceleratorRegistry[accelerator]["accelerator"].is_available():
        pytest.skip(f"{accelerator} is available")
    assert error_of(check, f"trainer.accelerator={accelerator}") == (
        f"trainer.accelerator={accelerator}: no {accelerator.upper()} is visible here; "
        "use cpu or auto"
    )


@pytest.mark.parametrize(
    "override, expected",
    [
        ("hydra.launcher.n_jobs=1.5", "hydra.launcher.n_jobs=1.5: must be an integer"),
        ("hydra.launcher.timeout=abc", "hydra.launcher.timeout=abc: must be a number"),
        (
            "hydra.launcher.n_jobs=null",
            "hydra.launcher.n_jobs=null: must have a value; null is not one it takes",
        ),
    ],
)
def test_a_launchers_typed_key_set_to_another_type_is_named(tmp_path: Path, override, expected):
    """Hydra's launchers declare their keys' types; OmegaConf's words are replaced by the rules'."""
    with pytest.raises(Exception) as caught:
        precheck(["-m", "hydra/launcher=joblib", override, f"hydra.sweep.dir={tmp_path}"])
    assert one_line(caught.value) == expected


def test_a_search_path_dir_that_is_not_there_is_named(tmp_path: Path):
    """Hydra would warn, go on, and then find no option the dir was to bring."""
    (tmp_path / "my_conf" / "model").mkdir(parents=True)
    (tmp_path / "my_conf" / "model" / "mine.yaml").write_text("_target_: torch.nn.Linear\n")
    missing = tmp_path / "my_cnf"
    with pytest.raises(Exception) as caught:
        precheck([f"hydra.searchpath=[file://{missing}]", "model=mine"])
    assert one_line(caught.value) == (
        f"hydra.searchpath=[file://{missing}]: {missing} is not a dir; a config dir is added "
        "as file://<its path>"
    )
    precheck([f"hydra.searchpath=[file://{tmp_path / 'my_conf'}]", "model=mine"])  # there
    with pytest.raises(Exception) as caught:  # Hydra's key takes a list, not null
        precheck(["hydra.searchpath=null"])
    assert one_line(caught.value) == (
        "hydra.searchpath=null: must have a value; null is not one it takes"
    )


@pytest.mark.parametrize(
    "overrides, expected",
    [
        (
            ["+hydra.launcher.ray.init.num_cpu=2"],
            "hydra.launcher.ray.init.num_cpu: not an argument of ray.init; allowed: address, "
            "num_cpus,",
        ),
        (
            ["+hydra.launcher.ray.remote.num_gpu=1"],
            "hydra.launcher.ray.remote: Invalid option keyword num_gpu for remote functions.",
        ),
        (
            ["+hydra.launcher.ray.remote.num_gpus=-1"],
            "hydra.launcher.ray.remote: The quantity of resource num_gpus cannot be negative",
        ),
    ],
)
def test_a_ray_option_that_ray_does_not_take_is_refused_before_the_sweep(
    tmp_path: Path, overrides, expected
):
    """Hydra's Ray launcher hands them to ray.init and ray.remote after making the sweep dir."""
    pytest.importorskip("hydra_plugins.hydra_ray_launcher")
    with pytest.raises(Exception) as caught:
        precheck(["-m", "hydra/launcher=ray", *overrides, f"hydra.sweep.dir={tmp_path / 's'}"])
    assert one_line(caught.value).startswith(expected)
    assert not (tmp_path / "s").exists()
    # what Ray takes passes; so does the preset's, which sets no task options
    precheck(["-m", "hydra/launcher=ray", f"hydra.sweep.dir={tmp_path / 's'}"])
    precheck(
        [
            "-m",
            "hydra/launcher=ray",
            "+hydra.launcher.ray.init.num_cpus=2",
            "+hydra.launcher.ray.init._temp_dir=/tmp/ray",  # Ray's own, through **kwargs
            "+hydra.launcher.ray.remote.num_cpus=1",
            f"hydra.sweep.dir={tmp_path / 's'}",
        ]
    )


def test_a_joblib_backend_other_than_loky_is_refused(tmp_path: Path):
    """Hydra's joblib launcher would run loky whatever the key said."""
    with pytest.raises(Exception) as caught:
        precheck(["-m", "hydra/launcher=joblib", "hydra.launcher.backend=threading"])
    assert one_line(caught.value) == (
        "hydra.launcher.backend=threading: must be null or loky (Hydra's joblib launcher always "
        "runs jobs in loky's processes)"
    )
    precheck(
        [
            "-m",
            "hydra/launcher=joblib",
            "hydra.launcher.backend=loky",
            f"hydra.sweep.dir={tmp_path}",
        ]
    )


@pytest.mark.parametrize("launcher", ["joblib", "submitit_local", "submitit_slurm"])
def test_a_sweep_whose_launcher_is_installed_passes(monkeypatch, tmp_path: Path, launcher):
    monkeypatch.setattr("shutil.which", lambda name: f"/usr/bin/{name}")  # as on a SLURM cluster
    precheck(["-m", f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}"])  # [test] has them


def test_a_missing_checkpoint_stops_a_sweep_in_worker_processes_before_it_starts(tmp_path):
    """joblib's jobs check the rest of a checkpoint as they start; that it is there, first."""
    missing = tmp_path / "last.ckpt"
    with pytest.raises(Exception) as caught:
        precheck(["-m", "hydra/launcher=joblib", "seed=0,1", f"ckpt_path={missing}",
                  f"hydra.sweep.dir={tmp_path / 'sweep'}"])  # fmt: skip
    assert one_line(caught.value) == (
        f"ckpt_path={missing}: no such file; give a run's checkpoints/last.ckpt"
    )


@pytest.mark.parametrize("values", ["[c],[]", "[],[c]"])
def test_a_sweep_checks_each_value_of_a_key_as_fully_as_the_first(tmp_path: Path, values):
    """The basic launcher's jobs run in this process: each value is checked as its job will
    check it, a freeze name against the model built, whichever place it has in the list."""
    with pytest.raises(Exception) as caught:
        precheck(["-m", f"freeze={values}", f"hydra.sweep.dir={tmp_path / 'sweep'}"])
    assert one_line(caught.value) == "freeze=['c']: the model has no parameter c; it has w"
    assert not (tmp_path / "sweep").exists()


def test_a_checkpoint_path_to_a_dir_names_the_file_that_resumes(tmp_path: Path):
    """ckpt_path=<a run's dir>: the dir exists, so not "no such file"; where the run saved its
    last checkpoint, the path to it."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)

    def refusal(given: Path) -> str:
        with pytest.raises(Exception) as caught:
            precheck([f"ckpt_path={given}", f"hydra.run.dir={tmp_path / 'new'}"])
        return one_line(caught.value)

    assert refusal(run) == (
        f"ckpt_path={run}: a dir, not a checkpoint file; give a run's checkpoints/last.ckpt"
    )
    (run / "checkpoints" / "last.ckpt").write_bytes(b"")
    for given in (run, run / "checkpoints"):
        assert refusal(given) == (
            f"ckpt_path={given}: a dir, not a checkpoint file; "
            f"did you mean ckpt_path={run / 'checkpoints' / 'last.ckpt'}?"
        )


def test_a_slurm_sweep_where_there_is_no_slurm_says_so(monkeypatch, tmp_path: Path):
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(Exception) as caught:
        precheck(["-m", "hydra/launcher=submitit_slurm", f"hydra.sweep.dir={tmp_path / 's'}"])
    assert one_line(caught.value).startswith(
        "hydra/launcher=submitit_slurm: no SLURM here (sbatch is not on the PATH)"
    )
    assert not (tmp_path / "s").exists()


@pytest.mark.parametrize(
    "launcher, module, extra",
    [
        ("ray", "hydra_plugins.hydra_ray_launcher.ray_launcher", "ray"),
        # descentlab's joblib launcher is there, Hydra's that it builds on is not
        ("joblib", "hydra_plugins.hydra_joblib_launcher.joblib_launcher", "joblib"),
        ("submitit_slurm", "hydra_plugins.hydra_submitit_launcher.submitit_launcher", "submitit"),
    ],
)
def test_a_sweep_whose_launcher_is_not_installed_names_the_extra(
    monkeypatch, tmp_path: Path, launcher, module, extra
):
    monkeypatch.setitem(sys.modules, module, None)  # as if it were not installed
    # as in a command of its own, which imports it first in the check
    monkeypatch.delitem(sys.modules, "hydra_plugins.descentlab_launcher.joblib_launcher", False)
    with pytest.raises(Exception) as caught:
        precheck(["-m", f"hydra/launcher={launcher}", f"hydra.sweep.dir={tmp_path}"])
    assert one_line(caught.value) == (
        f'hydra/launcher={launcher}: its plugin is not installed; pip install -e ".[{extra}]"'
    )


@pytest.mark.parametrize(
    "source, why",
    [
        ("import descentlab_no_such_package\n", "No module named 'descentlab_no_such_package'"),
        ("from hydra import NoSuchThing\n", "cannot import name 'NoSuchThing' from 'hydra'"),
    ],
)
def test_a_launcher_that_is_there_but_does_not_import_says_why(
    monkeypatch, tmp_path: Path, source, why
):
    """Not "not installed": its own import fails, on a package it needs or a version that does
    not fit, and the error says which."""
    (tmp_path / "broken_launcher.py").write_text(source)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "broken_launcher", False)
    target = "hydra.launcher._target_=broken_launcher.LocalLauncher"
    with pytest.raises(Exception) as caught:
        precheck(
            ["-m", "hydra/launcher=submitit_local", target, f"hydra.sweep.dir={tmp_path / 's'}"]
        )
    message = one_line(caught.value)
    assert message.startswith(f"hydra/launcher=submitit_local: its plugin does not import ({why}")
    assert message.endswith('; pip install -e ".[submitit]"')
    assert not (tmp_path / "s").exists()


def test_the_ray_launcher_without_ray_says_so(monkeypatch, tmp_path: Path):
    pytest.importorskip("hydra_plugins.hydra_ray_launcher", reason='needs pip install -e ".[ray]"')
    monkeypatch.setitem(sys.modules, "ray", None)  # its plugin is there, Ray is not
    with pytest.raises(Exception) as caught:
        precheck(["-m", "hydra/launcher=ray", f"hydra.sweep.dir={tmp_path / 's'}"])
    assert one_line(caught.value) == (
        "hydra/launcher=ray: its plugin does not import (import of ray halted; None in "
        'sys.modules); pip install -e ".[ray]"'
    )
    assert not (tmp_path / "s").exists()


def without(package: str, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    """`descentlab *argv`, run in `tmp_path` as if `package` were not installed."""
    (tmp_path / "sitecustomize.py").write_text(f"import sys\nsys.modules[{package!r}] = None\n")
    env = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    return subprocess.run(
        [sys.executable, "-m", "descentlab", *argv],
        cwd=tmp_path,
        env={**env, "PYTHONPATH": str(tmp_path)},
        capture_output=True,
        text=True,
    )


@pytest.mark.slow
def test_a_search_without_the_optuna_plugin_names_the_extra(tmp_path: Path):
    """The optuna sweeper's config comes with its plugin: without it, composing fails first."""
    proc = without("hydra_plugins.hydra_optuna_sweeper", tmp_path, "-m", "experiment=search")
    assert proc.returncode == 2
    assert proc.stderr.strip() == (
        "descentlab: error: hydra/sweeper=optuna: its plugin is not installed; "
        'pip install -e ".[optuna]"'
    )
    assert not (tmp_path / "multirun").exists()


@pytest.mark.parametrize(
    "argv, returncode, stderr",
    [
        (["--cfg", "job"], 0, ""),
        (
            ["-m", "hydra/launcher=joblib"],
            2,
            "descentlab: error: hydra/launcher=joblib: its plugin is not installed; "
            'pip install -e ".[joblib]"',
        ),
    ],
)
def test_without_the_joblib_plugin_commands_run_quietly_and_a_joblib_sweep_is_refused(
    tmp_path: Path, argv, returncode, stderr
):
    """descentlab's joblib launcher builds on Hydra's, and Hydra imports it in every command as
    it looks for plugins: without Hydra's, it must not warn that it fails to import."""
    proc = without("hydra_plugins.hydra_joblib_launcher", tmp_path, *argv)
    assert (proc.returncode, proc.stderr.strip()) == (returncode, stderr)
    assert not (tmp_path / "multirun").exists()


@pytest.mark.parametrize(
    "overrides",
    [
        "data=nonlinear model=mlp model.widths=[16],[32,32]",  # a sweep hands over plain lists
        "optimizer=adam optimizer.betas=[0.9,0.999],[0.5,0.9]",
        "model.bias=true freeze=[b],[]",
        "optimizer.lr=0.1,0.5 hydra.sweep.subdir=lr_${optimizer.lr}",  # names a swept key
        "init=kaiming_normal init.nonlinearity=conv2d,leaky_relu",  # calculate_gain's names
    ],
)
def test_sweeps_of_valid_values_pass(tmp_path: Path, overrides):
    precheck(["-m", f"hydra.sweep.dir={tmp_path}", *overrides.split()])


def test_a_glob_sweeps_a_groups_options_and_one_that_matches_none_is_refused(tmp_path: Path):
    precheck(["-m", f"hydra.sweep.dir={tmp_path}", "init=glob(*,exclude=[none,zeros])"])
    with pytest.raises(Exception) as caught:  # a value, not a group: no options
        precheck(["-m", f"hydra.sweep.dir={tmp_path}", "optimizer.lr=glob(*)"])
    assert one_line(caught.value).startswith("optimizer.lr=glob(*): matches no option; glob()")


def test_a_subdir_naming_a_key_the_sweep_does_not_vary_is_refused(tmp_path: Path):
    with pytest.raises(Exception) as caught:
        precheck(
            [
                "-m",
                f"hydra.sweep.dir={tmp_path}",
                "optimizer.lr=0.1,0.5",
                "hydra.sweep.subdir=s${seed}",
            ]
        )
    assert one_line(caught.value).startswith("hydra.sweep.subdir=s${seed}: must differ")


def test_a_users_config_dir_with_relative_interpolations_and_options_of_its_own(tmp_path: Path):
    """Options from hydra.searchpath are the sweeper's to check; ${.key} is relative."""
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "wide.yaml").write_text(
        "_target_: torch.nn.Bilinear\nin1_features: 1\nin2_features: ${.in1_features}\n"
        "out_features: 1\n"
    )
    search = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    precheck([search, "model=wide", "init=none", f"hydra.run.dir={tmp_path / 'run'}"])
    precheck(["-m", search, "model=wide,linear", f"hydra.sweep.dir={tmp_path / 'sweep'}"])


def test_a_users_own_class_gives_a_key_its_own_meaning(tmp_path: Path, monkeypatch):
    """The rules describe descentlab's, torch's and Lightning's constructors: `activation: elu`
    is not one of the MLP's activations, but a user's model may take it."""
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "my_gated.py").write_text(
        "from torch import nn\n\n"
        "class Gated(nn.Module):\n"
        "    def __init__(self, activation: str, widths: int):\n"
        "        super().__init__()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path / "pkg"))
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "gated.yaml").write_text(
        "_target_: my_gated.Gated\nactivation: elu\nwidths: 8\n"
    )
    search = f"hydra.searchpath=[file://{tmp_path / 'conf'}]"
    precheck([search, "model=gated", "init=none", f"hydra.run.dir={tmp_path / 'run'}"])
    sweep_dir = f"hydra.sweep.dir={tmp_path / 'sweep'}"
    precheck(["-m", search, "model=gated", "model.activation=elu,selu", sweep_dir])
    with pytest.raises(Exception) as caught:  # the MLP's own key is still checked
        precheck(["data=digits", "model=mlp", "init=none", "model.activation=elu"])
    assert one_line(caught.value).startswith("model.activation=elu: must be one of relu")


@pytest.mark.parametrize(
    "key, overrides, expected",
    [
        ("data", "data=digits data.in_features=10", "data: digits have in_features=64"),
        ("data", "data=digits data.batch_size=99999", "data.batch_size=99999: must be ≤ 1257,"),
        (
            "callbacks.hparams",
            "callbacks.hparams.params=abc",
            "callbacks.hparams.params=abc: must be a mapping of column → value",
        ),
        (
            "logger",
            "+logger.flush_sec=5 logger.save_dir=.",
            "logger.flush_sec: not an argument of the TensorBoard logger or of its SummaryWriter;"
            " allowed: save_dir,",
        ),
    ],
)
def test_what_a_constructor_refuses_is_one_line_naming_the_key(key, overrides, expected):
    """train() builds each piece under `refused`: Hydra's block of lines becomes one."""
    from hydra.errors import InstantiationException
    from hydra.utils import instantiate
    from omegaconf import OmegaConf

    from descentlab.cli import compose_config
    from descentlab.errors import refused

    with pytest.raises(InstantiationException) as caught:
        instantiate(OmegaConf.select(compose_config(overrides.split()), key))
    assert str(refused(caught.value)).startswith(expected)


def test_a_config_file_that_is_not_yaml_is_one_line(tmp_path: Path):
    """A user's own config dir (hydra.searchpath) with a broken file: yaml's traceback before."""
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "mine.yaml").write_text("_target_: a.B\nwidth: [8\n")
    with pytest.raises(Exception) as caught:
        precheck([f"hydra.searchpath=[file://{tmp_path / 'conf'}]", "model=mine"])
    assert one_line(caught.value) == (
        f"{tmp_path / 'conf' / 'model' / 'mine.yaml'}, line 2: not valid YAML (while parsing a "
        "flow sequence: expected ',' or ']', but got '<stream end>')"
    )


def test_a_sweep_checks_its_jobs_outputs_and_relations_before_it_starts(tmp_path: Path):
    """What a single run refuses up front without importing torch, a sweep refuses before its
    dir is made, not as each job fails: a log dir that holds files, values that do not fit
    together."""
    taken = tmp_path / "logs"
    taken.mkdir()
    (taken / "mine.txt").write_text("a user's file")
    sweep = ["-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", "optimizer.lr=0.1,0.2"]
    for extra, expected in [
        (f"logger.save_dir={taken}", f"logger.save_dir={taken}: already holds files"),
        ("trainer.max_steps=5", "trainer.val_check_interval=10: must be ≤ trainer.max_steps=5"),
    ]:
        with pytest.raises(Exception) as caught:
            precheck([*sweep, extra])
        assert one_line(caught.value).startswith(expected)
        assert not (tmp_path / "sweep").exists()


def test_a_sweep_run_in_this_process_checks_its_jobs_in_full(tmp_path: Path):
    """With the basic launcher the jobs run in this process, which imports torch for them:
    a key no constructor takes, or a freeze name, stops the sweep before its dir is made.
    Another launcher's main process checks without importing torch (checked in a fresh
    process), and leaves those to the jobs."""
    sweep = ["-m", f"hydra.sweep.dir={tmp_path / 'sweep'}", "optimizer.lr=0.1,0.2"]
    for extra, expected in [
        ("+optimizer.lrr=1", "optimizer.lrr: not an argument of torch.optim.SGD"),
        ("freeze=[foo]", "freeze=['foo']: the model has no parameter foo; it has w"),
    ]:
        with pytest.raises(Exception) as caught:
            precheck([*sweep, extra])
        assert one_line(caught.value).startswith(expected)
        assert not (tmp_path / "sweep").exists()
    code = (
        "import sys\nfrom descentlab.cli import precheck\n"
        f"precheck({[*sweep, 'hydra/launcher=joblib', '+optimizer.lrr=1']!r})\n"
        # a monitor's mode, which the metric's class tells: left to the jobs too
        f"precheck({[*sweep, 'hydra/launcher=joblib', 'scheduler.monitor=val/r2']!r})\n"
        "print('torch' in sys.modules, 'lightning' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.stdout.split() == ["False", "False"], done.stderr
