"""Which logger asgiws uses by default.

asgiws logs under ``asgiws.server`` and ``asgiws.client``. A program written for websockets
configures ``logging.getLogger("websockets")`` instead (the guide's debug section does); so that
it runs after changing only its import, when the ``websockets`` logger has been configured (a
handler or a level) and the ``asgiws`` logger has not, asgiws logs under ``websockets.server`` and
``websockets.client``. The choice is made when a server or client is created.
"""

from __future__ import annotations

import logging

__all__ = ["default_logger"]


def _configured(name: str) -> bool:
    logger = logging.Logger.manager.loggerDict.get(name)
    return isinstance(logger, logging.Logger) and bool(
        logger.handlers or logger.level != logging.NOTSET
    )


def default_logger(side: str) -> logging.Logger:
    """``asgiws.<side>``, or ``websockets.<side>`` for programs that configured that logger."""
    if _configured("websockets") and not _configured("asgiws"):
        return logging.getLogger(f"websockets.{side}")
    return logging.getLogger(f"asgiws.{side}")
