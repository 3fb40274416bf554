"""Custom Rasa input channels.

``bot.channels.line.LineInput`` connects the bot to the LINE Messaging API
(webhook ``POST /webhooks/line/webhook``).  Rasa loads a custom channel by its
class path, so ``credentials.yml`` names it ``bot.channels.line.LineInput``.
This package imports nothing on purpose: importing it must stay cheap.
"""
