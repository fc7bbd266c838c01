"""The chat page in a real browser: Debian's chromium and chromedriver,
driven by Selenium. A question, a follow-up, and an article full of HTML and
Markdown that must show as text. The screenshot of the answered chat is
saved as tests/artifacts/chat.png (ignored by git) for a person to look at."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from app import build_demo
from qa import Assistant, Settings

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
    assistant = Assistant.load(Settings(corpus=corpus, index=index))
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
        lambda d: d.find_element(By.CSS_SELECTOR, "textarea[data-testid='textbox'], textarea")
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


def _message(browser, text: str) -> str:
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    def shown(driver):
        found = driver.find_element(By.ID, "library-message").text
        return found if text in found else False

    return WebDriverWait(browser, 120).until(shown)


def test_upload_ask_and_remove_an_article(browser, page_url, tmp_path):
    """Upload an article in the Articles tab, see it listed, get an answer
    that only it holds, then remove it; screenshots of the tab and the answer."""
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

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
    browser.save_screenshot(str(ARTIFACTS / "answer_from_upload.png"))

    _tab(browser, "Articles")
    choice = browser.find_element(By.CSS_SELECTOR, "#chosen input")
    choice.click()
    choice.send_keys("Zorbix_a_Albi.txt")
    choice.send_keys(Keys.ENTER)
    browser.find_element(By.ID, "remove").click()
    _message(browser, "Retiré : Zorbix_a_Albi.txt")
    WebDriverWait(browser, 30).until(
        lambda d: "Zorbix_a_Albi.txt" not in d.find_element(By.ID, "articles").text
    )
