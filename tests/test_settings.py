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
