"""The action server package (rasa_sdk): ``rasa run actions --actions bot.actions``.

Actions stay thin: read the tracker, call ``knowledge.answer``, format the
reply with ``bot.actions.replies``.
"""
from .answer import ActionAnswer  # noqa: F401
from .rating import ActionRateAnswer  # noqa: F401
from .smalltalk import ActionSmalltalk  # noqa: F401
