"""Chat REST API (DRF): conversations, messages (JSON or streamed as server-sent events), feedback and the
hand-off button. Thin: validate, call a service or selector, serialize."""
import json
from collections.abc import Iterator

from django.conf import settings
from django.http import StreamingHttpResponse
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle, SimpleRateThrottle, UserRateThrottle
from rest_framework.views import APIView

from chatbot import replies, selectors, services
from chatbot.models import Conversation, Message, MessageRole
from shop.errors import ApplicationError, NotFoundError


class ChatThrottle(SimpleRateThrottle):
    """The "chat" rate (settings) per signed-in user, else per guest session, else per address: replies
    cost compute, so each shopper gets a budget of their own. The default anonymous/user throttles still
    apply per address, which stops a client from minting sessions to get more."""

    scope = "chat"

    def get_cache_key(self, request: Request, view: APIView) -> str:
        if request.user and request.user.is_authenticated:
            ident = f"user:{request.user.pk}"
        elif request.session.session_key:
            ident = f"session:{request.session.session_key}"
        else:
            ident = f"ip:{self.get_ident(request)}"
        return self.cache_format % {"scope": self.scope, "ident": ident}


CHAT_THROTTLES = [ChatThrottle, AnonRateThrottle, UserRateThrottle]


def max_message_chars() -> int:
    return int(getattr(settings, "CHATBOT_MAX_MESSAGE_CHARS", 1000))


class MessageSerializer(serializers.ModelSerializer):
    class Meta:
        model = Message
        fields = ["id", "role", "text", "tool", "citations", "quick_replies", "feedback", "created_at"]


class ConversationSerializer(serializers.ModelSerializer):
    messages = serializers.SerializerMethodField()
    ticket_status = serializers.SerializerMethodField()

    class Meta:
        model = Conversation
        fields = ["id", "status", "ticket_status", "messages", "created_at"]

    @extend_schema_field(MessageSerializer(many=True))
    def get_messages(self, conversation: Conversation) -> list[dict]:
        after = self.context.get("after")
        return MessageSerializer(selectors.conversation_messages(conversation=conversation, after_id=after), many=True).data

    def get_ticket_status(self, conversation: Conversation) -> str | None:
        return selectors.ticket_status(conversation=conversation)


class MessageInputSerializer(serializers.Serializer):
    text = serializers.CharField(trim_whitespace=True, allow_blank=False)

    def validate_text(self, text: str) -> str:
        limit = max_message_chars()
        if len(text) > limit:
            raise ApplicationError("message_too_long", f"Messages are limited to {limit} characters.", fields={"text": [f"at most {limit} characters"]})
        return text


class FeedbackInputSerializer(serializers.Serializer):
    value = serializers.ChoiceField(choices=["up", "down", "none"])


class ConversationListView(APIView):
    throttle_classes = CHAT_THROTTLES

    @extend_schema(request=None, responses={201: ConversationSerializer})
    def post(self, request: Request) -> Response:
        conversation = services.conversation_start(request=request)
        services.assistant_greeting_add(conversation=conversation)
        return Response(ConversationSerializer(conversation).data, status=status.HTTP_201_CREATED)


class ConversationDetailView(APIView):
    @extend_schema(responses={200: ConversationSerializer, 404: OpenApiResponse(description="not yours or no such")})
    def get(self, request: Request, conversation_id: str) -> Response:
        conversation = selectors.conversation_get_for_requester(conversation_id=conversation_id, request=request)
        after = request.query_params.get("after", "")
        context = {"after": int(after)} if after.isdigit() else {}
        return Response(ConversationSerializer(conversation, context=context).data)


def _receive(request: Request, conversation_id: str) -> tuple[Conversation, services.Exchange]:
    conversation = selectors.conversation_get_for_requester(conversation_id=conversation_id, request=request)
    data = MessageInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    shopper = selectors.shopper_for(request=request, conversation=conversation)
    return conversation, services.message_post(conversation=conversation, shopper=shopper, text=data.validated_data["text"])


class MessageCreateView(APIView):
    """A shopper message answered on the template path (no generation): the fast, non-streaming reply."""

    throttle_classes = CHAT_THROTTLES

    @extend_schema(request=MessageInputSerializer, responses={201: MessageSerializer})
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation, exchange = _receive(request, conversation_id)
        reply = None
        if exchange.turn is not None:
            reply = services.assistant_message_add(conversation=conversation, turn=exchange.turn, text=exchange.turn.text)
        return Response(
            {
                "user_message": MessageSerializer(exchange.user_message).data,
                "reply": MessageSerializer(reply).data if reply else None,
                "conversation_status": conversation.status,
            },
            status=status.HTTP_201_CREATED,
        )


def _sse(event: str, payload: dict) -> bytes:
    # JSON in the data line: newlines in text cannot break the event framing, and nothing is markup.
    return f"event: {event}\ndata: {json.dumps(payload, ensure_ascii=False)}\n\n".encode()


class MessageStreamView(APIView):
    """The same exchange, streamed as server-sent events: `user` (the stored message), `token` (pieces of
    the reply as they are generated), then `done` (the stored reply, which may replace the pieces when a
    generation failed the grounding check). Errors before the stream starts are the usual JSON errors."""

    throttle_classes = CHAT_THROTTLES

    @extend_schema(request=MessageInputSerializer, responses={(200, "text/event-stream"): OpenApiResponse(description="SSE")})
    def post(self, request: Request, conversation_id: str) -> StreamingHttpResponse:
        conversation, exchange = _receive(request, conversation_id)

        def events() -> Iterator[bytes]:
            yield _sse("user", {"message": MessageSerializer(exchange.user_message).data, "conversation_status": conversation.status})
            turn = exchange.turn
            if turn is None:
                yield _sse("done", {"reply": None, "conversation_status": conversation.status})
                return
            final = turn.text
            stored = False
            try:
                for event in replies.stream_reply(turn.text, wordable=turn.wordable):
                    if event.kind == "token":
                        yield _sse("token", {"text": event.text})
                    else:
                        final = event.text
                reply = services.assistant_message_add(conversation=conversation, turn=turn, text=final)
                stored = True
                yield _sse("done", {"reply": MessageSerializer(reply).data, "conversation_status": conversation.status})
            finally:
                if not stored:  # the client went away mid-stream: keep the answer in the history anyway
                    services.assistant_message_add(conversation=conversation, turn=turn, text=turn.text)

        response = StreamingHttpResponse(events(), content_type="text/event-stream; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        response["X-Accel-Buffering"] = "no"  # nginx and the like must not hold the stream back
        return response


class HandOffView(APIView):
    throttle_classes = CHAT_THROTTLES

    @extend_schema(request=None, responses={200: ConversationSerializer})
    def post(self, request: Request, conversation_id: str) -> Response:
        conversation = selectors.conversation_get_for_requester(conversation_id=conversation_id, request=request)
        services.conversation_request_person(conversation=conversation)
        return Response(ConversationSerializer(conversation).data)


class FeedbackView(APIView):
    @extend_schema(request=FeedbackInputSerializer, responses={200: MessageSerializer})
    def post(self, request: Request, conversation_id: str, message_id: int) -> Response:
        conversation = selectors.conversation_get_for_requester(conversation_id=conversation_id, request=request)
        message = conversation.messages.filter(pk=message_id, role=MessageRole.ASSISTANT).first()
        if message is None:
            raise NotFoundError("message_not_found", "No such answer in this conversation.")
        data = FeedbackInputSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        value = {"up": 1, "down": -1, "none": None}[data.validated_data["value"]]
        return Response(MessageSerializer(services.message_feedback_set(message=message, value=value)).data)
