"""Help pages: the knowledge base as plain pages, so every citation in a chat answer is a real link."""
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render

from chatbot import selectors


def faq_list(request: HttpRequest) -> HttpResponse:
    return render(request, "chatbot/faq_list.html", {"entries": selectors.faq_entries()})


def faq_detail(request: HttpRequest, slug: str) -> HttpResponse:
    entry = selectors.faq_entry_by_slug(slug=slug)
    if entry is None:
        raise Http404("No such help article")
    return render(request, "chatbot/faq_detail.html", {"entry": entry})
