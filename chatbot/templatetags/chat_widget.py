"""{% load chat_widget %}{% chat_widget %}: the support chat's launcher, panel, stylesheet and script, for
the chat slot of base.html. The storefront never imports the chatbot; it only renders this tag."""
from django import template
from django.template.context import RequestContext
from django.urls import reverse
from django.utils.safestring import SafeString

from chatbot.api import max_message_chars

register = template.Library()


@register.simple_tag(takes_context=True)
def chat_widget(context: RequestContext) -> SafeString:
    # The API root is resolved here so the script never hard-codes where the project mounted it.
    api_root = reverse("chat-conversation-list")
    tmpl = context.template.engine.get_template("chatbot/widget.html")
    return tmpl.render(context.new({"api_root": api_root, "max_chars": max_message_chars(), "csrf_token": context.get("csrf_token")}))
