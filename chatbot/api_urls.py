"""Chat API routes, included by the project under /api/ (shop/urls.py)."""
from django.urls import path

from chatbot import api

urlpatterns = [
    path("chat/conversations/", api.ConversationListView.as_view(), name="chat-conversation-list"),
    path("chat/conversations/<str:conversation_id>/", api.ConversationDetailView.as_view(), name="chat-conversation-detail"),
    path("chat/conversations/<str:conversation_id>/messages/", api.MessageCreateView.as_view(), name="chat-message-create"),
    path("chat/conversations/<str:conversation_id>/stream/", api.MessageStreamView.as_view(), name="chat-message-stream"),
    path("chat/conversations/<str:conversation_id>/handoff/", api.HandOffView.as_view(), name="chat-handoff"),
    path(
        "chat/conversations/<str:conversation_id>/messages/<int:message_id>/feedback/",
        api.FeedbackView.as_view(),
        name="chat-message-feedback",
    ),
]
