"""Password rules, after the NCSC's password guidance: length over
complexity, no composition rules, and a deny-list of passwords that attackers
try first (a public list of common passwords, plus words from this service and
the person's own email address).

The deny-list is Django's list of 20,000 common passwords, vendored in
app/data (see app/data/README.md for its source and licence).
"""
import functools
import gzip
import re
from pathlib import Path

MIN_LENGTH = 12
# Long enough for any passphrase or password manager; bounds the work of hashing.
MAX_LENGTH = 256
COMMON_PASSWORDS_FILE = Path(__file__).resolve().parents[1] / "data" / "common-passwords.txt.gz"

TOO_SHORT = f"Password must be {MIN_LENGTH} characters or more"
TOO_LONG = f"Password must be {MAX_LENGTH} characters or fewer"
TOO_COMMON = ("Password is too easy to guess because it is a commonly used password. "
              "Try three random words")
TOO_PERSONAL = ("Password is too easy to guess because it contains your email address or "
                "the name of this service. Try three random words")
# Text every new-password field shows, so the rules are known before typing.
HINT = f"Must be {MIN_LENGTH} characters or more. Three random words work well"


@functools.cache
def common_passwords() -> frozenset[str]:
    """The deny-list, lower-cased, loaded once per process."""
    with gzip.open(COMMON_PASSWORDS_FILE, "rt", encoding="utf-8") as f:
        return frozenset(line.strip() for line in f if line.strip())


def _squash(text: str) -> str:
    """Lower case with everything but letters and digits removed, so that
    'Amira.Khan@Example.com!' and 'amirakhanexamplecom' compare equal."""
    return re.sub(r"[\W_]+", "", text.lower())


def _context_words(email: str, service_name: str) -> list[str]:
    words = [service_name, email]
    local = email.split("@", 1)[0] if "@" in email else ""
    words.append(local)
    # The words people build a password from: "childrensplacements", "newham"...
    words.extend(re.split(r"[@.\-_+]", email))
    words.extend(re.split(r"\s+", service_name.replace("'", "")))
    return [w for w in {_squash(word) for word in words} if len(w) >= 4]


def _is_common(password: str) -> bool:
    deny = common_passwords()
    lowered = password.lower().strip()
    if lowered in deny or lowered.replace(" ", "") in deny:
        return True
    # A common password padded with digits or symbols ("iloveyou12345678").
    core = re.sub(r"[\d\W_]+$", "", lowered)
    core = re.sub(r"^[\d\W_]+", "", core)
    return bool(core) and core != lowered and core in deny


def _is_personal(password: str, context: list[str]) -> bool:
    squashed = _squash(password)
    for word in context:
        if word in squashed:
            rest = squashed.replace(word, "")
            # What is left besides the context word is too little to protect it.
            if len(rest) < 8:
                return True
    return False


def password_problem(password: str, *, email: str = "", service_name: str = "") -> str | None:
    """The reason a new password is not allowed, as a message for the person
    choosing it, or None when it is fine."""
    if len(password) < MIN_LENGTH:
        return TOO_SHORT
    if len(password) > MAX_LENGTH:
        return TOO_LONG
    if _is_common(password):
        return TOO_COMMON
    if _is_personal(password, _context_words(email, service_name)):
        return TOO_PERSONAL
    return None
