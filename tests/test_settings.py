from pathlib import Path

import pytest

from qa.errors import InputError
from qa.settings import Settings


def test_environment_overrides_defaults_and_arguments_override_both():
    env = {"QA_K": "3", "QA_MIN_CONFIDENCE": "0.4", "QA_INDEX": "/tmp/idx", "QA_MODE": " "}
    settings = Settings.from_env(env, k=7)
    assert settings.k == 7
    assert settings.min_confidence == 0.4
    assert settings.index == Path("/tmp/idx")
    assert settings.mode == "hybrid"  # a blank variable means "not set"


def test_a_bad_environment_value_names_the_variable():
    with pytest.raises(InputError, match=r"QA_CANDIDATES='many' is not a valid int"):
        Settings.from_env({"QA_CANDIDATES": "many"})


def test_folders_may_be_given_as_text():
    settings = Settings(corpus="articles", index="built")
    assert settings.corpus == Path("articles")
    assert settings.with_(index="other").index == Path("other")


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("yes", True), ("0", False), ("off", False)]
)
def test_read_only_is_a_yes_no_variable(raw, value):
    assert Settings.from_env({"QA_READ_ONLY": raw}).read_only is value


def test_a_bad_yes_no_value_and_a_zero_upload_limit_are_refused():
    with pytest.raises(InputError, match="QA_READ_ONLY='maybe' is not a yes/no value"):
        Settings.from_env({"QA_READ_ONLY": "maybe"})
    with pytest.raises(InputError, match="max_upload_bytes must be at least 1"):
        Settings(max_upload_bytes=0)
