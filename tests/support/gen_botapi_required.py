#!/usr/bin/env python3
"""Regenerate tests/support/botapi_required.json from shared/botapi/api.json.

Usage (from the repository root):
    python3 tests/support/gen_botapi_required.py [path/to/api.json]

The default api.json path is ../shared/botapi/api.json relative to the
repository root (i.e. /work/shared/botapi/api.json on the dev machines).

Output layout:
    {
      "version": "...",
      "methods": {"sendMessage": ["chat_id", "text"], ...},   # required params
      "returns": {"sendMessage": "Message", "getUpdates": "Array of Update", ...},
      "types": {
        "Message": {
          "required": ["message_id", "date", "chat"],
          "nested": {"chat": "Chat", "photo": "PhotoSize", ...}
        }, ...
      }
    }
"nested" lists the fields (required or not) whose type is another type of
this file, so the Bot API simulator's self-test can check objects
recursively. "Array of X" fields map to X; MaybeInaccessibleMessage maps to
Message.
"""
import json
import os
import sys

TYPES = [
    "Update", "Message", "Chat", "User", "CallbackQuery", "ForumTopic",
    "MessageEntity", "PhotoSize", "Sticker", "Document", "BotCommand",
    # Extra objects the simulator returns, checked by its self-test too.
    "ForumTopicCreated", "ForumTopicEdited", "MessageId", "InlineKeyboardMarkup",
    "InlineKeyboardButton", "WebhookInfo", "ChatFullInfo", "AcceptedGiftTypes",
    "ChatMemberAdministrator", "ChatMemberMember", "MessageOriginUser",
    "LinkPreviewOptions",
]
ALIASES = {"MaybeInaccessibleMessage": "Message", "MessageOrigin": "MessageOriginUser"}


def element_type(type_name: str) -> str:
    while type_name.startswith("Array of "):
        type_name = type_name[len("Array of "):]
    return ALIASES.get(type_name, type_name)


def main() -> None:
    here = os.path.dirname(os.path.abspath(__file__))
    repo = os.path.dirname(os.path.dirname(here))
    default = os.path.join(os.path.dirname(repo), "shared", "botapi", "api.json")
    src = sys.argv[1] if len(sys.argv) > 1 else default
    with open(src, encoding="utf-8") as f:
        api = json.load(f)

    methods = {
        name: [f["name"] for f in m.get("fields", []) if f.get("required")]
        for name, m in sorted(api["methods"].items())
    }
    returns = {}
    for name, m in sorted(api["methods"].items()):
        ret = (m.get("returns") or [""])[0]
        array = ret.startswith("Array of ")
        el = element_type(ret)
        if el in TYPES:
            returns[name] = ("Array of " if array else "") + el
    types = {}
    for name in TYPES:
        t = api["types"][name]
        fields = t.get("fields", [])
        nested = {}
        for f in fields:
            for ty in f.get("types", []):
                el = element_type(ty)
                if el in TYPES:
                    nested[f["name"]] = el
                    break
        types[name] = {
            "required": [f["name"] for f in fields if f.get("required")],
            "nested": nested,
        }
    out = {"version": api.get("version"), "release_date": api.get("release_date"),
           "methods": methods, "returns": returns, "types": types}
    dst = os.path.join(here, "botapi_required.json")
    with open(dst, "w", encoding="utf-8") as f:
        json.dump(out, f, indent=1, sort_keys=False)
        f.write("\n")
    print(f"wrote {dst}: {len(methods)} methods, {len(types)} types")


if __name__ == "__main__":
    main()
