"""Faker's per-locale providers, for the lists other modules read from them (street types, person names).

Faker ships a provider class per locale for each kind of data ('address', 'person'); the recogniser and
the exposure candidates read the word lists of all of them, so they cover the languages Faker covers
without a list of our own. The gateway installs no Faker: there this finds nothing, and callers fall back
to their built-in lists.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import lru_cache


@lru_cache(maxsize=8)
def locale_providers(kind: str) -> tuple[tuple[str, type], ...]:
    """(locale, Provider class) for every locale of ``faker.providers.<kind>``, in Faker's module order;
    empty without Faker."""
    try:
        package = importlib.import_module(f"faker.providers.{kind}")
    except ImportError:
        return ()
    found = []
    for module in pkgutil.iter_modules(package.__path__):
        try:
            found.append((module.name, importlib.import_module(f"{package.__name__}.{module.name}").Provider))
        except (ImportError, AttributeError):
            continue
    return tuple(found)


def listed(provider: type, attribute: str) -> list[str]:
    """A provider's word list as strings (the keys, where Faker weights the words in a dict); empty when the
    attribute is missing or is no list (a property, a callable)."""
    words = getattr(provider, attribute, ())
    if not isinstance(words, (dict, list, tuple)):
        return []
    return [str(word) for word in words]
