"""Admin: FAQ entries (the knowledge base), conversations (read-only), and support tickets with a
staff-reply inline whose replies are posted into the shopper's chat through the service."""
from django.contrib import admin
from django.http import HttpRequest

from chatbot import services
from chatbot.models import Conversation, FAQEntry, Message, StaffReply, SupportTicket


@admin.register(FAQEntry)
class FAQEntryAdmin(admin.ModelAdmin):
    list_display = ["question", "tags", "active", "updated_at"]
    list_filter = ["active"]
    search_fields = ["question", "answer", "tags"]
    readonly_fields = ["slug", "updated_at"]


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class MessageInline(ReadOnlyInline):
    model = Message
    fields = ["created_at", "role", "text", "intent", "confidence", "tool", "feedback"]
    readonly_fields = fields


@admin.register(Conversation)
class ConversationAdmin(admin.ModelAdmin):
    list_display = ["id", "user", "session_key", "status", "created_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["id", "user__username", "user__email", "messages__text"]
    inlines = [MessageInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Read-only: a conversation is a record of what was said.
        return False


class StaffReplyInline(admin.StackedInline):
    model = StaffReply
    extra = 1
    fields = ["text", "author", "created_at"]
    readonly_fields = ["author", "created_at"]

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # sent replies are already in the shopper's chat; they are not edited afterwards

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(SupportTicket)
class SupportTicketAdmin(admin.ModelAdmin):
    list_display = ["id", "status", "reason", "conversation", "created_at", "updated_at"]
    list_filter = ["status"]
    search_fields = ["transcript", "reason"]
    fields = ["status", "reason", "conversation", "transcript", "created_at"]
    readonly_fields = ["reason", "conversation", "transcript", "created_at"]
    inlines = [StaffReplyInline]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def save_formset(self, request: HttpRequest, form, formset, change: bool) -> None:
        if formset.model is not StaffReply:
            super().save_formset(request, form, formset, change)
            return
        # New replies go through the service, which also posts them into the conversation the widget shows.
        created = []
        for inline_form in formset.forms:
            text = inline_form.cleaned_data.get("text") if inline_form.has_changed() else None
            if text and inline_form.instance.pk is None:
                created.append(services.ticket_staff_reply_add(ticket=form.instance, author=request.user, text=text))
        # What formset.save() would have recorded, for the admin's change message.
        formset.new_objects, formset.changed_objects, formset.deleted_objects = created, [], []
