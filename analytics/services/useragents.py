"""User-agent classes of tracking hits, and which of them are machines, not people.

Machine opens and clicks are kept (with their class) but never counted as human engagement:
- Apple Mail Privacy Protection fetches every image of every message through Apple's proxy,
  whether or not anyone reads it; its requests carry the bare user agent "Mozilla/5.0".
- Security gateways and link scanners (Mimecast, Proofpoint, Barracuda, Microsoft Safe Links,
  ...) fetch every link on delivery; link-preview bots (Slackbot, Discordbot, ...) unfurl links
  posted to a channel. Tools and headless browsers are machines too; so is an empty user agent.
- Gmail's and Yahoo's image proxies fetch the pixel when the message is opened and are human
  opens: Gmail does not prefetch in a way its requests let us tell apart.
HEAD requests and clicks within TRACKING_MACHINE_CLICK_SECONDS of delivery are machines as
well (decided in ingest, which knows the method and the delivery time).
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass


@dataclass(frozen=True)
class AgentClass:
    name: str
    is_machine: bool


APPLE_MPP = AgentClass("apple_mpp", True)
SCANNER = AgentClass("scanner", True)
LINK_PREVIEW = AgentClass("link_preview", True)
BOT = AgentClass("bot", True)
EMPTY = AgentClass("empty", True)
GMAIL_PROXY = AgentClass("gmail_proxy", False)
YAHOO_PROXY = AgentClass("yahoo_proxy", False)
MOBILE = AgentClass("mobile", False)
EMAIL_CLIENT = AgentClass("email_client", False)
DESKTOP = AgentClass("desktop", False)

_PATTERNS: list[tuple[re.Pattern, AgentClass]] = [
    (re.compile(r"googleimageproxy|ggpht\.com", re.I), GMAIL_PROXY),
    (re.compile(r"yahoomailproxy", re.I), YAHOO_PROXY),
    (
        re.compile(
            r"barracuda|mimecast|proofpoint|symantec|messagelabs|trend ?micro|forcepoint|fireeye|ironport"
            r"|sophos|safelinks|microsoft (office )?(atp|defender)|bingpreview|zscaler|check ?point|avanan"
            r"|palo ?alto|cloudmark|vade|hornetsecurity|spamtitan|fortinet|fortiguard|urldefense",
            re.I,
        ),
        SCANNER,
    ),
    (
        re.compile(
            r"slackbot|discordbot|twitterbot|facebookexternalhit|linkedinbot|whatsapp|telegrambot"
            r"|skypeuripreview|embedly|redditbot|mastodon|applebot",
            re.I,
        ),
        LINK_PREVIEW,
    ),
    (
        re.compile(
            r"curl/|wget|python-|go-http-client|java/|okhttp|apache-httpclient|libwww|httpie|headlesschrome"
            r"|phantomjs|bot\b|bot/|spider|crawl|scan|preview",
            re.I,
        ),
        BOT,
    ),
    (re.compile(r"thunderbird|outlook|ms-office|microsoft office|airmail|spark|superhuman", re.I), EMAIL_CLIENT),
    (re.compile(r"iphone|ipad|android|mobile", re.I), MOBILE),
]


@functools.lru_cache(maxsize=4096)  # a handful of agents make most hits
def user_agent_classify(user_agent: str) -> AgentClass:
    agent = (user_agent or "").strip()
    if not agent:
        return EMPTY
    if agent == "Mozilla/5.0":  # Apple Mail Privacy Protection's proxy sends exactly this
        return APPLE_MPP
    for pattern, agent_class in _PATTERNS:
        if pattern.search(agent):
            return agent_class
    return DESKTOP
