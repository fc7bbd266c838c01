import json
import shutil

import pytest

from qa.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def ask(capsys, index_dir, seeds):
    """`qa ask ARGS...` against the session's index of the seeds."""
    return lambda *argv: run(
        capsys, "ask", "--index", str(index_dir), "--corpus", str(seeds), *argv
    )


def test_ask_json(ask):
    code, out, _ = ask("--json", "Where is the Cité numérique near Bordeaux?")
    assert code == 0
    data = json.loads(out)
    assert "Bègles" in data["excerpts"][0]["text"]


def test_ask_text_marks_the_highlight(ask):
    question = "Quel est le budget du plan IA de l'Occitanie ?"
    code, out, _ = ask("-k", "2", "--mode", "lexical", question)
    assert code == 0
    assert out.startswith("Réponse : 50 millions d’euros")
    assert "\n\n[1] L’Occitanie dévoile un plan" in out
    assert "**Doté d’un budget de 50 millions d’euros" in out
    assert "[3]" not in out


def test_ask_within_articles_and_dates(ask):
    question = "Combien d'entreprises accueillera la Cité numérique ?"
    code, out, _ = ask("--json", "--since", "2019-09", "--until", "2019", question)
    assert code == 0
    cited = {e["citation"]["doc_id"] for e in json.loads(out)["excerpts"]}
    assert cited == {"003_e1b8b1c84c49c586.txt"}
    code, out, _ = ask("--json", "--document", "002_ff58c89954683044.txt", question)
    assert code == 0
    data = json.loads(out)
    assert {e["citation"]["doc_id"] for e in (*data["excerpts"], *data["closest"])} == {
        "002_ff58c89954683044.txt"
    }
    code, _, err = ask("--since", "2019/09", question)
    assert code == 2 and "YYYY" in err


def test_ask_abstains_in_words(ask):
    code, out, _ = ask("What is the capital of Australia?")
    assert code == 0
    assert out.startswith("No answer in these articles. Aucun article ne parle de « Australia »")


def test_ask_leads_with_the_short_answer(ask):
    code, out, _ = ask("Qui est le directeur de Digital Place ?")
    assert code == 0
    assert out.startswith("Réponse : Jean-Pierre Bayol  (from [1], confidence ")
    assert "\n\n[1] " in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["ask", ""], "the question is empty"),
        (["ask", "   "], "the question is empty"),
        (["ask", "--mode", "fuzzy", "Toulouse"], "unknown mode 'fuzzy'"),
        (["ask", "-k", "0", "Toulouse"], "-k must be at least 1"),
        (["ask", "--corpus", "/nonexistent/folder", "Toulouse"], "corpus folder not found"),
        (["index", "--corpus", "/nonexistent/folder"], "corpus folder not found"),
        (["ask"], "required: question"),
        (["frobnicate"], "invalid choice"),
        (["eval", "--held-out-origins", "--split", "test"], "use it with --split dev"),
    ],
)
def test_bad_input_exits_2_with_one_line(capsys, argv, message):
    code, _, err = run(capsys, *argv)
    assert code == 2
    assert message in err
    assert len(err.strip().splitlines()) == 1


def test_corrupted_index_exits_1_naming_the_file(capsys, index_dir, seeds, tmp_path):
    import shutil

    from qa.store import read_manifest

    folder = tmp_path / "index"
    shutil.copytree(index_dir, folder)
    (folder / read_manifest(folder).segments[0]["name"] / "passages.jsonl").write_text("broken\n")
    code, _, err = run(capsys, "ask", "--index", str(folder), "--corpus", str(seeds), "Toulouse")
    assert code == 1
    assert "passages.jsonl" in err and "qa index --rebuild" in err
    code, out, _ = run(capsys, "index", "--rebuild", "--index", str(folder), "--corpus", str(seeds))
    assert code == 0
    assert out.startswith("index built")


def test_a_lone_surrogate_is_removed_not_a_traceback(ask):
    code, out, err = ask("--json", "Qui a lancé la plateforme French Tech \udfff ?")
    assert code == 0 and "lone surrogates" in err
    assert "Fleur Pellerin" in json.loads(out)["excerpts"][0]["text"]


def test_long_question_is_cut_not_refused(ask):
    code, out, err = ask("--json", "Qui a lancé la plateforme French Tech ? " + "x " * 5000)
    assert code == 0
    assert "question cut" in err
    assert json.loads(out)["warnings"]


def test_list_add_and_remove(capsys, index_dir, corpus_copy, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(index_dir, index)
    where = ("--corpus", str(corpus_copy), "--index", str(index))
    code, out, _ = run(capsys, "list", *where)
    assert code == 0 and "002_ff58c89954683044.txt  " in out and "passages" in out
    latin1 = tmp_path / "vieux.txt"
    latin1.write_bytes("Un été à Béziers".encode("latin-1"))
    code, _, err = run(capsys, "add", *where, str(latin1))
    assert code == 2 and "not valid UTF-8" in err
    new = tmp_path / "Zorbix.md"
    new.write_text("# Zorbix à Albi\n\nZorbix emploie 12 salariés à Albi.\n", encoding="utf-8")
    code, out, _ = run(capsys, "add", *where, str(new))
    assert code == 0 and "added Zorbix.md" in out and "1 embedded" in out
    code, out, _ = run(capsys, "remove", *where, "Zorbix.md")
    assert code == 0 and "removed Zorbix.md" in out and "0 embedded" in out
    code, _, err = run(capsys, "remove", *where, "Zorbix.md")
    assert code == 2 and "no article 'Zorbix.md'" in err
