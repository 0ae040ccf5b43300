"""Help pages: the FAQ entries the assistant cites (namespace "chatbot"), included under /help/."""
from django.urls import path

from chatbot import views

app_name = "chatbot"

urlpatterns = [
    path("", views.faq_list, name="faq-list"),
    path("<slug:slug>/", views.faq_detail, name="faq-detail"),
]
