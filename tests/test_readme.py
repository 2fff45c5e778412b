"""The README's commands are the ones that are run and tested."""

import re

from conftest import ROOT


def quick_start_commands() -> list[str]:
    readme = (ROOT / "README.md").read_text()
    section = readme.split("## Quick start", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```bash\n(.+?)\n```", section)


def test_quick_start_has_exactly_two_commands_run_and_test():
    run, test = quick_start_commands()
    assert run.endswith("pip install -e . && descentlab")
    assert test.endswith('pip install -e ".[test]" && pytest')


def test_ci_runs_the_readme_test_command():
    _, test = quick_start_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci


def test_every_group_option_in_the_examples_exists():
    readme = (ROOT / "README.md").read_text()
    examples = readme.split("## Changing the experiment", 1)[1].split("\n## ", 1)[0]
    for group, option in re.findall(
        r"descentlab .*?\b(optimizer|init|scheduler|model)=(\w+)", examples
    ):
        assert (ROOT / "conf" / group / f"{option}.yaml").is_file(), f"{group}={option}"


def test_every_image_the_readme_shows_is_in_the_repository():
    readme = (ROOT / "README.md").read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", readme)
    assert len(images) >= 4
    for path in images:
        assert (ROOT / path).is_file(), path
