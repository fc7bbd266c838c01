"""The chat page in a real browser: Debian's chromium and chromedriver,
driven by Selenium. A question, a follow-up, and an article full of HTML and
Markdown that must show as text; an upload, a pasted article, feedback.
Screenshots go to tests/artifacts/ for a person to look at; the README shows
two of them (articles.png and answer_from_upload.png, the only ones git
keeps: commit them again when the page changes)."""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path

import pytest

from app import build_demo
from qa import Assistant, Settings
from qa.evaluation import load_questions

ARTIFACTS = Path(__file__).resolve().parent / "artifacts"
HOSTILE = (
    "Le piège du Capitole numérique\n\n"
    "Le Capitole numérique de Toulouse a reçu <script>window.__pwned = 1</script> un prix.\n"
    'Son logo <img src=x onerror="window.__pwned = 2"> est en ligne, '
    "voir [le site](http://evil.example) et ![image](http://evil.example/x.png).\n"
    "Le prix du Capitole numérique est doté de 7 777 euros selon **les organisateurs**.\n"
)


def _chromium() -> tuple[str, str] | None:
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


pytestmark = pytest.mark.skipif(
    _chromium() is None,
    reason="chromium and chromedriver are not installed (.ci/run installs them)",
)


@pytest.fixture(scope="module")
def page_url(tmp_path_factory, seeds, embedder):
    corpus = tmp_path_factory.mktemp("corpus")
    for f in seeds.iterdir():
        shutil.copy(f, corpus / f.name)
    (corpus / "hostile.txt").write_text(HOSTILE, encoding="utf-8")
    index = tmp_path_factory.mktemp("browser-index")
    feedback = tmp_path_factory.getbasetemp() / "browser-feedback.jsonl"
    assistant = Assistant.load(Settings(corpus=corpus, index=index, feedback=feedback))
    demo = build_demo(assistant)
    _, url, _ = demo.launch(prevent_thread_lock=True, server_name="127.0.0.1", quiet=True)
    try:
        yield url
    finally:
        demo.close()


@pytest.fixture(scope="module")
def browser():
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    binary, driver = _chromium()
    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                "--window-size=1280,1400"):  # fmt: skip
        options.add_argument(arg)
    chrome = webdriver.Chrome(service=Service(driver), options=options)
    try:
        yield chrome
    finally:
        chrome.quit()


def _replies(driver) -> list[str]:
    from selenium.webdriver.common.by import By

    bots = driver.find_elements(By.CSS_SELECTOR, "#chat [data-testid='bot']")
    return [b.text for b in bots]


def _ask(browser, question: str) -> str:
    """Type `question`, press Enter, wait for the new reply; its text."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    box = WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#question textarea")
    )
    before = len(_replies(browser))
    box.send_keys(question)
    box.send_keys(Keys.ENTER)

    def reply(driver):
        texts = _replies(driver)
        return texts[-1] if len(texts) > before and texts[-1].strip() else False

    return WebDriverWait(browser, 60).until(reply)


def test_chat_in_a_browser(browser, page_url):
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    first = _ask(browser, "Qui a lancé la plateforme French Tech ?")
    assert "Fleur Pellerin" in first
    assert "Toulouse en bonne voie pour décrocher son label" in first
    assert "002_ff58c89954683044.txt" in first
    marks = browser.find_elements(By.CSS_SELECTOR, "#chat mark")
    assert any("Fleur Pellerin" in m.text for m in marks)

    follow = _ask(browser, "Où Microsoft a-t-il ouvert un Experiences Lab à Toulouse ?")
    assert "300 m2" in follow
    second = _ask(browser, "Et à Bordeaux ?")
    assert "Question comprise" in second
    assert "Bordeaux Métropole" in second

    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "chat.png"))


def test_article_html_and_markdown_render_as_text(browser, page_url):
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    reply = _ask(browser, "Quel est le montant du prix du Capitole numérique ?")
    assert "7 777 euros" in reply
    assert "<script>" in reply or "<img src=x" in reply
    chat = browser.find_element(By.ID, "chat")
    found = chat.find_elements(By.CSS_SELECTOR, "img[src='x'], a[href*='evil'], script")
    assert [e.get_attribute("outerHTML") for e in found] == []
    assert browser.execute_script("return window.__pwned === undefined")
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "hostile.png"))


ZORBIX = (
    "Zorbix s'installe à Albi\n\n"
    "La start-up Zorbix, qui fabrique des capteurs pour les vignes, emploie 12 salariés à Albi "
    "et prévoit d'en recruter 30 d'ici 2027.\n"
)


def _tab(browser, name: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def tab(driver):
        found = driver.find_elements(By.CSS_SELECTOR, "button[role='tab']")
        return next((b for b in found if b.get_attribute("textContent").strip() == name), False)

    # A script click: Gradio's tab bar sits under an overlay for Selenium's own.
    browser.execute_script("arguments[0].click();", WebDriverWait(browser, 60).until(tab))


def _message(browser, text: str, where: str = "library-message") -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(driver):
        found = driver.find_element(By.ID, where).text
        return found if text in found else False

    return WebDriverWait(browser, 120).until(shown)


def _choose(browser, element_id: str, value: str) -> None:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys

    choice = browser.find_element(By.CSS_SELECTOR, f"#{element_id} input")
    choice.click()
    choice.send_keys(value)
    choice.send_keys(Keys.ENTER)


def test_upload_ask_and_remove_an_article(browser, page_url, tmp_path, tmp_path_factory):
    """Upload an article in the Articles tab, see it listed, get an answer
    that only it holds, then remove it; screenshots of the tab and the answer."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    feedback = tmp_path_factory.getbasetemp() / "browser-feedback.jsonl"
    article = tmp_path / "Zorbix à Albi.txt"
    article.write_text(ZORBIX, encoding="utf-8")
    browser.get(page_url)
    _tab(browser, "Articles")
    upload = WebDriverWait(browser, 60).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#upload input[type='file']")
    )
    upload.send_keys(str(article))
    WebDriverWait(browser, 60).until(lambda d: "Zorbix" in d.find_element(By.ID, "upload").text)
    browser.find_element(By.ID, "add").click()
    assert "Zorbix_a_Albi.txt" in _message(browser, "Ajouté")
    WebDriverWait(browser, 30).until(
        lambda d: "Zorbix_a_Albi.txt" in d.find_element(By.ID, "articles").text
    )
    assert "7 articles" in browser.find_element(By.ID, "index-state").text
    ARTIFACTS.mkdir(exist_ok=True)
    browser.save_screenshot(str(ARTIFACTS / "articles.png"))

    _tab(browser, "Questions")
    reply = _ask(browser, "Combien de salariés emploie Zorbix à Albi ?")
    assert "12 salariés" in reply and "Zorbix_a_Albi.txt" in reply
    copied = browser.find_element(By.CSS_SELECTOR, "#quote textarea").get_attribute("value")
    assert copied.startswith("« ") and "12 salariés" in copied
    assert copied.endswith("— Zorbix s'installe à Albi (Zorbix_a_Albi.txt)")
    time.sleep(1)  # the chat scrolls itself to its end once the reply is drawn
    last = browser.find_elements(By.CSS_SELECTOR, "#chat [data-testid='bot']")[-1]
    browser.execute_script("arguments[0].scrollIntoView({block: 'start'});", last)
    browser.save_screenshot(str(ARTIFACTS / "answer_from_upload.png"))

    # A thumbs up on the reply is saved as a question the evaluation can read.
    likes = browser.find_elements(By.CSS_SELECTOR, "#chat button[aria-label='Like']")
    browser.execute_script("arguments[0].click();", likes[-1])
    _message(browser, "Merci", where="feedback-note")
    saved = json.loads(feedback.read_text(encoding="utf-8").splitlines()[-1])
    assert saved["verdict"] == "right" and saved["docs"] == ["Zorbix_a_Albi.txt"]
    assert load_questions(feedback)[-1].question == saved["question"]

    _tab(browser, "Articles")
    _choose(browser, "chosen", "Zorbix_a_Albi.txt")
    WebDriverWait(browser, 30).until(
        lambda d: "30 d'ici 2027" in d.find_element(By.ID, "article-view").text
    )
    browser.find_element(By.ID, "remove").click()
    _message(browser, "Retiré : Zorbix_a_Albi.txt")
    WebDriverWait(browser, 30).until(
        lambda d: "Zorbix_a_Albi.txt" not in d.find_element(By.ID, "articles").text
    )


def test_paste_an_article_then_ask_it(browser, page_url):
    """An article pasted with its title is saved, indexed and answers."""
    from selenium.webdriver.common.by import By

    browser.get(page_url)
    _tab(browser, "Articles")
    opener = next(
        b
        for b in browser.find_elements(By.CSS_SELECTOR, "button")
        if "Coller un texte" in b.get_attribute("textContent")
    )
    browser.execute_script("arguments[0].click();", opener)
    browser.find_element(By.CSS_SELECTOR, "#paste-title textarea, #paste-title input").send_keys(
        "Le domaine Quentor vendange"
    )
    browser.find_element(By.CSS_SELECTOR, "#paste-text textarea").send_keys(
        "Le domaine Quentor, à Gaillac, a vendangé 48 hectares de vignes cette année."
    )
    browser.find_element(By.ID, "paste").click()
    assert "Le_domaine_Quentor_vendange.txt" in _message(browser, "Ajouté")
    _tab(browser, "Questions")
    reply = _ask(browser, "Combien d'hectares le domaine Quentor a-t-il vendangés ?")
    assert "48 hectares" in reply and "Le_domaine_Quentor_vendange.txt" in reply
    _tab(browser, "Articles")
    _choose(browser, "chosen", "Le_domaine_Quentor_vendange.txt")
    browser.find_element(By.ID, "remove").click()
    _message(browser, "Retiré : Le_domaine_Quentor_vendange.txt")
