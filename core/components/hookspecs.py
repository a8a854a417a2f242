"""The one hook `ica` calls: plugins *register* components rather than being asked for them one by one.

Registration-style hooks keep the plugin surface tiny and stable: adding a new kind of component
never needs a new hook.
"""

from __future__ import annotations

from typing import Any, Callable

import pluggy

PROJECT = "ica"
hookspec = pluggy.HookspecMarker(PROJECT)
hookimpl = pluggy.HookimplMarker(PROJECT)


@hookspec
def ica_register(register: Callable[..., Any]) -> None:
    """Register components by calling ``register(kind, name, options, build, description=None)``.

    Args:
        register: the callback; ``kind`` is one of ``ica.components.protocols.KINDS``, ``name`` the name specs use,
            ``options`` a subclass of ``ica.plugin.Options``, ``build(options, ctx)`` the factory.
    """
