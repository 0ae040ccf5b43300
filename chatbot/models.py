"""Support chat: conversations and their messages, the FAQ knowledge base, and hand-off tickets.

A conversation belongs to exactly one shopper: a signed-in user or a guest session. Its `state` holds the
dialogue's memory between turns (carried slots, a pending confirmation, an order a guest has verified);
nothing in it is ever trusted as identity.
"""
import uuid

from django.conf import settings
from django.db import models
from django.urls import reverse
from django.utils.text import slugify


class ConversationStatus(models.TextChoices):
    OPEN = "open", "Open (assistant)"
    HANDED_OFF = "handed_off", "Handed off to a person"
    CLOSED = "closed", "Closed"


class Conversation(models.Model):
    # A UUID, not a counter: the id travels in URLs and browser storage, so it must not be guessable.
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="chat_conversations"
    )
    session_key = models.CharField(max_length=40, blank=True, db_index=True)
    status = models.CharField(max_length=12, choices=ConversationStatus.choices, default=ConversationStatus.OPEN)
    state = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-updated_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False) | ~models.Q(session_key=""), name="conversation_has_owner"
            )
        ]

    def __str__(self) -> str:
        return f"Conversation {str(self.id)[:8]} ({self.user or 'guest'})"


class MessageRole(models.TextChoices):
    USER = "user", "Shopper"
    ASSISTANT = "assistant", "Assistant"
    STAFF = "staff", "Staff"


class Feedback(models.IntegerChoices):
    DOWN = -1, "Thumbs down"
    UP = 1, "Thumbs up"


class Message(models.Model):
    conversation = models.ForeignKey(Conversation, on_delete=models.CASCADE, related_name="messages")
    role = models.CharField(max_length=10, choices=MessageRole.choices)
    text = models.TextField()
    intent = models.CharField(max_length=40, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    slots = models.JSONField(default=dict, blank=True)
    tool = models.CharField(max_length=40, blank=True)
    # [{"id": 3, "title": "...", "url": "/help/..."}]: the FAQ entries an answer was grounded in.
    citations = models.JSONField(default=list, blank=True)
    quick_replies = models.JSONField(default=list, blank=True)
    feedback = models.SmallIntegerField(choices=Feedback.choices, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.text[:60]}"


class FAQEntry(models.Model):
    question = models.CharField(max_length=255)
    slug = models.SlugField(max_length=120, unique=True, blank=True)
    answer = models.TextField()
    tags = models.CharField(max_length=255, blank=True, help_text="comma-separated words that help retrieval")
    active = models.BooleanField(default=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["question"]
        verbose_name = "FAQ entry"
        verbose_name_plural = "FAQ entries"

    def __str__(self) -> str:
        return self.question

    def save(self, *args, **kwargs) -> None:
        # The slug makes a stable, readable citation link; it is derived once and then kept.
        if not self.slug:
            self.slug = slugify(self.question)[:110] or "entry"
            if FAQEntry.objects.filter(slug=self.slug).exclude(pk=self.pk).exists():
                self.slug = f"{self.slug[:100]}-{uuid.uuid4().hex[:6]}"
        super().save(*args, **kwargs)

    def get_absolute_url(self) -> str:
        return reverse("chatbot:faq-detail", kwargs={"slug": self.slug})


class TicketStatus(models.TextChoices):
    OPEN = "open", "Open"
    ANSWERED = "answered", "Answered"
    CLOSED = "closed", "Closed"


class SupportTicket(models.Model):
    conversation = models.OneToOneField(Conversation, on_delete=models.CASCADE, related_name="ticket")
    status = models.CharField(max_length=10, choices=TicketStatus.choices, default=TicketStatus.OPEN, db_index=True)
    reason = models.CharField(max_length=255, blank=True)
    transcript = models.TextField(help_text="the conversation up to the hand-off, as the shopper saw it")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"Ticket #{self.pk} ({self.get_status_display()})"


class StaffReply(models.Model):
    ticket = models.ForeignKey(SupportTicket, on_delete=models.CASCADE, related_name="replies")
    author = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    text = models.TextField()
    # The widget shows the copy posted into the conversation; this links the two.
    message = models.OneToOneField(Message, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name_plural = "staff replies"
