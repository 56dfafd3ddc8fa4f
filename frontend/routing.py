"""Websocket routes (Channels): each consumer module lists its ``websocket_urlpatterns``."""

from frontend.consumers import classify, training

websocket_urlpatterns = [*classify.websocket_urlpatterns, *training.websocket_urlpatterns]
