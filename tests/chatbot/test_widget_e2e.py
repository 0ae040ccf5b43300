"""The chat widget on a real storefront page in headless Chromium: open it from the keyboard, ask, see the
streamed answer with its source and quick replies, rate it, survive a reload, hand off and see a staff reply.
The page is the home page: base.html renders {% chat_widget %} in its chat slot. Browser fixtures live in
tests/conftest.py."""
import pytest

from chatbot import services
from chatbot.models import SupportTicket

PAGE = "/"

pytestmark = pytest.mark.e2e
# The n-th assistant message is complete: streamed, stored (it has an id) and the typing indicator is gone.
ANSWERED = """n => document.querySelectorAll('.chat-assistant[data-id]').length >= n
    && !document.querySelector('[aria-busy]') && document.querySelector('[data-chat-typing]').hidden"""


def test_widget_answers_streams_keeps_history_and_hands_off(page, faq):
    page.set_default_timeout(15_000)
    page.goto(PAGE)
    launcher = page.locator("[data-chat-launcher]")
    launcher.focus()
    page.keyboard.press("Enter")

    panel = page.locator("[data-chat-panel]")
    log = page.locator("[data-chat-log]")
    assert panel.is_visible() and launcher.get_attribute("aria-expanded") == "true"
    assert log.get_attribute("aria-live") == "polite"
    page.locator(".chat-assistant").first.wait_for()
    assert page.evaluate("document.activeElement.id") == "chat-input"

    # Text typed by a shopper (or returned by the server) is shown as text, never run as markup.
    page.fill("#chat-input", "<img src=x onerror=window.__pwned=1> which payment methods do you accept?")
    page.keyboard.press("Enter")
    page.wait_for_function(ANSWERED, arg=2, timeout=60_000)
    answer = page.locator(".chat-assistant").nth(1)
    assert page.locator(".chat-user .chat-text").first.text_content().startswith("<img src=x")
    assert log.locator("img").count() == 0 and page.evaluate("window.__pwned") is None
    assert answer.locator(".chat-text").text_content().startswith("We accept credit and debit cards")
    assert answer.locator(".chat-citation").get_attribute("href").startswith("/help/")
    assert page.locator(".chat-quick-reply").count() > 0

    thumbs_up = answer.locator('.chat-thumb[data-value="up"]')
    thumbs_up.click()
    page.wait_for_function("button => button.getAttribute('aria-pressed') === 'true'", arg=thumbs_up.element_handle())

    # A reload keeps the conversation and the open panel.
    page.reload()
    page.locator(".chat-user").first.wait_for()
    assert page.locator("[data-chat-log] .chat-message").count() == 3

    page.keyboard.press("Escape")
    assert panel.is_hidden() and page.evaluate("document.activeElement.hasAttribute('data-chat-launcher')")

    launcher.click()
    page.locator("[data-chat-person]").click()
    page.locator("[data-chat-status]").wait_for(state="visible")
    ticket = SupportTicket.objects.get()
    services.ticket_staff_reply_add(ticket=ticket, author=None, text="Hi, Priya here <b>from support</b>.")
    staff = page.locator(".chat-staff .chat-text")
    staff.wait_for()
    assert staff.text_content() == "Hi, Priya here <b>from support</b>."
