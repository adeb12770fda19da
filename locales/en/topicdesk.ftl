# topicdesk, English. Every key here must exist in every locale (tested).
# HTML is allowed only where the message is sent with parse_mode=HTML (note-*).

## Customer intake
intake-welcome = Hi { $name }! What can we help you with? Please choose a topic:
category-billing = Billing and payments
category-technical = Technical problem
category-account = My account
category-other = Something else
intake-ask-description = { $category }: please describe your problem in one message. You can attach a photo or a file with a caption. Send /cancel to stop.
intake-ask-description-draft = { $category }: you wrote “{ $draft }”. Tap the button to open your ticket with it, or describe your problem in a new message.
intake-use-draft = ✅ Use my message
intake-hint-pick-category = Please choose one of the buttons above, or send /cancel.
intake-hint-description = Got it: this will be added to your ticket. Now please describe your problem in words (a text message, or a photo or file with a caption).
intake-cancelled = Cancelled. Write to us any time to open a ticket.
intake-nothing-to-cancel = There is nothing to cancel. Just write your question to open a ticket.
intake-cancel-ticket-open = Your ticket #{ $id } is open, so there is nothing to cancel. To close it, send /close.
customer-close-nothing = You have no open ticket to close. Just write your question to open one.
csat-question = How satisfied are you with the help you got? Tap a rating (5 = very satisfied).
csat-thanks = Thank you for your rating!
csat-posted = ⭐ The customer rated this ticket { $score }/5.
csat-changed = ⭐ The customer changed their rating to { $score }/5.
button-expired = This button is no longer active.
button-unreadable = Sorry, that did not work. Please tap the button again, or write to us.

## Customer, while a ticket is open
ticket-opened = Ticket #{ $id } opened. Our team will answer right here; anything you send in this chat is added to your ticket.
ticket-received = We have received your message and kept it safe. Our team will answer right here as soon as they can; anything you send in this chat is added to it.
team-command-in-private = { $command } is a support team command: send it in the support group “{ $group }”. Here you talk to the bot as a customer would.
ticket-already-open = Your ticket #{ $id } is open: just write here and the team will see it.
ticket-closed-for-customer = Ticket #{ $id } is closed. Thank you for contacting us! If you write here soon, this ticket continues; /start opens a new one.
ticket-closed-for-customer-new = Ticket #{ $id } is closed. Thank you for contacting us! To ask something new, just write here.
ticket-reopened-for-customer = Ticket #{ $id } has been reopened; the team will continue here.
edit-not-relayed = This edit was not passed on: only the text or caption of a message in an open ticket is updated. Please send the correction as a new message.
unsupported-message = Telegram does not let this { $kind } be passed on. Please send text, a photo, a video, a voice message or a file.
customer-flood-notice = You are sending messages faster than Telegram lets us pass them on. Nothing is lost: every message reaches the team, in order, though the last ones may take a few minutes.
message-unreadable = Sorry, we could not read that message, so it did not reach the team. Please send it again, as text or as a photo or file.
customer-help = I connect you with our support team. Write your question and the team will answer in this chat. /start opens a ticket, /cancel stops opening one, /close closes your open ticket, /language picks the language we write in.
error-internal = Something went wrong on our side. Please try again in a minute.

## Command menu (setMyCommands)
cmd-start = Open a support ticket
cmd-cancel = Stop opening a ticket
cmd-close-customer = Close my ticket
cmd-language = Choose my language
language-choose = Which language should we use?
language-name = English
language-set = Done: we will write to you in English.
cmd-help = How this bot works
cmd-close = Close this ticket and tell the customer
cmd-reopen = Reopen this ticket
cmd-note = Internal note, never sent to the customer

## Ticket topic
topic-name = #{ $id } · { $category } · { $customer }
topic-name-tier = #{ $id } · { $tier } · { $category } · { $customer }
note-tier-not-given = not given by the CRM
note-tier-crm-unavailable = unknown (CRM unavailable: { $why })
note-tier-crm-unusable = unknown (the CRM's answer had no valid field)
note-tier-crm-invalid = unknown (the CRM sent an invalid tier)
note-orders = { $count ->
    [one] { $count } order
   *[other] { $count } orders
}
note-recent-tickets = { $count ->
    [one] { $count } recent ticket
   *[other] { $count } recent tickets
}
note-lifetime-value = lifetime value { $value }
note-title = Ticket #{ $id }
note-customer = Customer
note-tier = Tier
note-history = History
note-history-first = first ticket
note-history-count = { $count ->
    [one] 1 earlier ticket
   *[other] { $count } earlier tickets
}
note-tier-unknown = unknown (no CRM connected)
note-category = Category
note-description = Description
note-description-continued = (shortened here: the full description follows below)
note-assignee = Assigned to
note-assignee-none = nobody yet, waiting in the queue
note-routing = Routing
note-routing-not-enabled = automatic routing is not set up yet: any agent can answer in this topic
note-footer = Internal note: never sent to the customer.
relay-not-delivered-blocked = ⚠️ Not delivered: the customer has blocked the bot.
relay-not-delivered = ⚠️ Not delivered to the customer. Telegram said: “{ $reason }”.
relay-not-delivered-uncopyable = ⚠️ Not delivered: Telegram cannot copy this { $kind }. Please send it another way.
delivery-failed-topic = ⚠️ Ticket #{ $id }: Telegram refused to set up or post into its topic (Telegram said: “{ $reason }”). Check that the bot is an admin with the “Manage topics” and “Pin messages” rights; topicdesk tries again every 30 seconds.
delivery-held-topics = ⚠️ Ticket #{ $id } is waiting for its topic: the bot may not create or manage topics in this group. Make the bot an admin with the “Manage topics” right. Nothing is lost: the ticket and its messages follow as soon as the bot can.
group-ready-again = ✅ topicdesk can work in this group again: it is an administrator with “Manage topics” and “Pin messages”. Tickets that waited for their topics are being set up now.
edit-not-relayed-agent = ✏️ This edit was not passed on (only text and captions are): the customer still sees the first version. Send the correction as a new message.
edited-copy = ✏️ Edited: { $text }
message-unreadable-group = ⚠️ This message could not be read, so it was not passed on to the customer. Please send it again in another form.
ticket-closed-by = ✅ Ticket #{ $id } closed by { $agent }. The customer has been notified.
ticket-already-closed = Ticket #{ $id } is already closed.
ticket-reopened-by = 🔄 Ticket #{ $id } reopened by { $agent }.
ticket-already-open-group = Ticket #{ $id } is already open.
ticket-reopen-conflict = Can't reopen: the customer has another open ticket, #{ $other }.
ticket-closed-no-relay = Ticket #{ $id } is closed, so this message was not sent. Use /reopen to continue the conversation.
note-recorded = 📝 Internal note kept in this topic; the customer does not see it.
note-usage = Usage: /note <text>. An internal remark the customer never sees.
command-needs-ticket-topic = This command works inside a ticket's topic.
topic-not-a-ticket = This topic is not linked to a ticket; messages here are not sent to anyone.
group-unknown-command = Unknown command. Available here: { $commands }
group-help = topicdesk: every ticket is a topic. Write in a ticket's topic to answer the customer. Commands: { $commands }

## Routing (the reason in the pinned note)
tier-premium = Premium
tier-standard = Standard
tier-basic = Basic
reason-crm-unavailable = CRM unavailable ({ $why })
reason-crm-none = no CRM configured
reason-crm-unusable = CRM answer not used, every value invalid: { $fields }
reason-crm-invalid = CRM sent invalid values, ignored: { $fields }
reason-tier = { $tier } customer
reason-tier-orders = { $tier } customer ({ $orders ->
    [one] { $orders } order
   *[other] { $orders } orders
})
reason-needs = needs { $skill }
reason-preferred-unavailable = the CRM's preferred agent { $id } cannot take it now
reason-preferred = { $agent } is the CRM's preferred agent and is available (level { $level }, { $load ->
    [one] { $load } open ticket
   *[other] { $load } open tickets
})
reason-senior = { $agent } is the most senior available { $skill } agent (level { $level }, { $load ->
    [one] { $load } open ticket
   *[other] { $load } open tickets
})
reason-junior = { $agent } is the least senior { $skill } agent who can handle it (level { $level }, { $load ->
    [one] { $load } open ticket
   *[other] { $load } open tickets
}), keeping seniors free
reason-specialist = { $agent } is the least busy available { $skill } agent ({ $load ->
    [one] { $load } open ticket
   *[other] { $load } open tickets
})
reason-generalist = no { $required } agent is available: { $agent } from the generalist pool ({ $load ->
    [one] { $load } open ticket
   *[other] { $load } open tickets
})
reason-least-loaded = least-loaded available agent: { $agent } ({ $load ->
    [one] { $load } open ticket
   *[other] { $load } open tickets
})
reason-queued = nobody who can take it is available, so it waits in the queue (priority { $priority })
reason-crm-says = CRM says: { $reason }

## Admin and agent commands
cmd-take = Take this waiting ticket
cmd-reassign = Give this ticket to another agent (admins)
cmd-available = I can take tickets
cmd-away = Pause new tickets for me
cmd-offline = I'm done for today
cmd-agents = Agents, skills, status and load
cmd-agent-add = Add an agent (admins)
cmd-agent-remove = Remove an agent (admins)
cmd-skill-add = Give an agent a skill (admins)
cmd-skill-remove = Take a skill away (admins)
admin-only = Only admins can do that (their ids are listed in ADMIN_IDS). Nothing was changed.
command-already-done = ✅ Done: this command was carried out just before the bot restarted.
agent-only = This is for agents. An admin can add you with /agent_add { $id }.
outsider-not-relayed = Only agents and admins can answer customers: this message was not passed on (and later ones will not be either). An admin can add you with /agent_add { $id }.
agent-default-name = Agent { $id }
usage-agent-add = Usage: /agent_add <user id | @username> [capacity], or reply to the person's message with /agent_add [capacity]. Capacity is 1–50 open tickets (default 5).
usage-agent-remove = Usage: /agent_remove <user id | @username>
usage-skill-add = Usage: /skill_add <user id | @username> <skill>[:level], e.g. /skill_add 12345 billing:3 (level 1–3, 3 = senior; default 1).
usage-skill-remove = Usage: /skill_remove <user id | @username> <skill>
usage-reassign = Usage: /reassign <agent's user id | @username>, in the ticket's topic.
agent-added = ✅ { $name } ({ $id }) is now an agent: capacity { $capacity }, available. Give skills with /skill_add { $id } <skill>[:level].
agent-updated = ✅ { $name } ({ $id }): capacity set to { $capacity }.
agent-capacity-below-load = ⚠️ { $name } has { $load ->
    [one] 1 open ticket
   *[other] { $load } open tickets
}, more than the new capacity { $capacity }: they keep them and get no new ones until they are under it.
agent-removed = ✅ { $name } ({ $id }) is no longer an agent. { $count ->
    [0] They had no open tickets.
    [one] Their open ticket went back to the queue.
   *[other] Their { $count } open tickets went back to the queue.
}
agent-not-found = There is no agent { $id }. /agents lists them; /agent_add adds one.
username-unknown = I don't know who { $username } is: Telegram does not tell bots whose a username is, and no agent was seen with it yet. Reply to one of their messages with the command, pick them from the mention list (so the mention carries them), or use their numeric id.
skill-added = ✅ { $name } ({ $id }) now has { $skill }.
skill-not-required = ⚠️ No category needs the skill “{ $skill }” (they need: { $needed }), so no ticket would ever be routed by it. A typo? To add it anyway, send: /skill_add { $id } { $skill } force
skill-removed = ✅ { $name } ({ $id }) no longer has { $skill }.
skill-not-held = { $name } ({ $id }) does not have the skill { $skill }.
status-available = available
status-away = away
status-offline = offline
status-set-available = ✅ { $name } is available: new tickets can come to you.
status-set-away = ✅ { $name } is away: no new tickets until you send /available.
status-set-away-gives-back = ✅ { $name } is away: no new tickets until you send /available. Tickets you have not answered yet go to another agent.
status-set-offline = ✅ { $name } is offline: no new tickets until you send /available. Tickets you have not answered yet go to another agent.
roster-empty = No agents yet. An admin adds one with /agent_add <user id>.
roster-title = Agents ({ $count }):
roster-no-skills = no skills yet
queue-more = …and { $count } more.
tier-unknown = tier unknown
ticket-not-open = Ticket #{ $id } is closed; /reopen it first.
take-already-yours = Ticket #{ $id } is already yours.
take-assigned-to-other = Ticket #{ $id } is assigned to { $name }. An admin can move it with /reassign.
take-at-capacity = You are at your capacity ({ $capacity ->
    [one] 1 open ticket
   *[other] { $capacity } open tickets
}). Close one first.
reassign-done = ✅ Ticket #{ $id } is assigned to { $name }.
reassign-at-capacity = { $name } is at capacity; choose another agent or raise it with /agent_add.
reason-taken = { $agent } took it with /take
reason-reassigned = reassigned by { $admin } to { $agent }
reason-override = premium override: no agent response within { $after } of opening, so { $agent } takes it as the next available agent ({ $load ->
    [one] { $load } open ticket
   *[other] { $load } open tickets
}), regardless of skill
reason-override-since-assignment = premium override: no agent response within { $after } of its last assignment, so { $agent } takes it as the next available agent ({ $load ->
    [one] { $load } open ticket
   *[other] { $load } open tickets
}), regardless of skill
reason-override-released = { $previous } was released from it
reason-reopened-previous-unavailable = reopened while { $previous } cannot take it (no longer an agent, not available, or at capacity): routed again
reason-agent-offline = { $previous } went offline before answering: routed again
reason-agent-away = { $previous } went away before answering: routed again
# Kinds of messages, named in notices.
kind-text = text message
kind-photo = photo
kind-video = video
kind-animation = GIF
kind-document = file
kind-audio = audio file
kind-voice = voice message
kind-video-note = video message
kind-sticker = sticker
kind-location = location
kind-venue = venue
kind-contact = contact
kind-poll = poll
kind-dice = dice
kind-other = message

# Insights (DESIGN §15).
cmd-queue = Tickets nobody has answered yet
cmd-stats = Response times, CSAT, load and a chart [period]
cmd-audit = The CRM's health and data quality [period] (admins)
cmd-export = Tickets as a CSV file [period] (admins)
queue-empty = Nothing waiting: every open ticket has been answered.
queue-title = Not answered yet ({ $count }), by priority then age:
queue-line = • #{ $id } · { $tier } · { $category } · priority { $priority } · { $state } · waiting { $wait } { $link }
queue-state-waiting = waiting for an agent
queue-state-assigned = with { $name }, not answered
roster-line = • { $name } ({ $id }) · { $status } · { $load }/{ $capacity } open · { $skills } · { $today }
roster-today = today (UTC): { $count } answered, first response p50 { $p50 }
roster-today-none = today (UTC): none answered
usage-stats = Usage: /stats [period], for example /stats 24h, /stats 7d (the default) or /stats 30d.
usage-audit = Usage: /audit [period], for example /audit 24h, /audit 7d (the default) or /audit 30d.
usage-export = Usage: /export [period], for example /export 24h, /export 7d (the default) or /export 30d.
stats-title = 📊 Last { $period } ({ $from } – { $to })
stats-no-tickets = No tickets were opened or closed in this period.
stats-tickets-title = Tickets opened / closed:
stats-tickets-line = • { $tier }: { $opened } / { $closed }
stats-frt-title = First response (p50 · p90):
stats-frt-none = • no first responses yet
stats-frt-line = • { $tier }: { $p50 } · { $p90 } ({ $count } answered)
stats-resolution-title = Resolution (p50 · p90):
stats-resolution-none = • none closed yet
stats-resolution-line = • { $tier }: { $p50 } · { $p90 } ({ $count } closed)
stats-counters = Premium overrides: { $overrides } · reassignments: { $reassignments } · CRM fallbacks: { $fallbacks }
stats-csat = CSAT: { $average } ({ $count ->
    [one] 1 rating
   *[other] { $count } ratings
})
stats-agents-title = Agents (tickets · first response p50 · CSAT):
stats-agent-line = • { $name }: { $tickets } · { $p50 } · { $csat } ({ $ratings })
stats-budget = Group budget: { $p50 } messages/min (median over the minutes the bot sent any), peak { $peak } of Telegram's { $limit } · longest wait of a sent message in the outbox { $wait }
stats-budget-full = ⚠️ The group reached Telegram's limit: messages queued behind it. Consider a second support group.
chart-title = First response p90 per tier, last { $period }
chart-minutes-axis = FRT p90 (min)
chart-tickets-axis = tickets / day
chart-caption = First response p90 per tier per day (UTC days; the first and last may be partial), with tickets per day (last { $period })
audit-title = 🔎 CRM audit, last { $period }
audit-no-crm = No CRM is connected (ROUTING_WEBHOOK_URL is not set): tickets are routed without it.
audit-no-calls = No CRM calls in this period.
audit-calls = Calls: { $calls } · answered in time: { $answered } · timeouts: { $timeouts } · HTTP errors: { $http } · invalid bodies: { $invalid } · other failures: { $other }
audit-latency = Latency: p50 { $p50 } · p99 { $p99 }
audit-fallbacks = Tickets routed by fallback: { $fallbacks } (of them { $refused } while the circuit breaker was open) · breaker openings: { $openings }
audit-invalid-fields = Invalid fields: { $fields }
audit-flags-none = Data quality: no flags.
audit-flag-tier-changed = Tier changed since the customer's previous ticket ({ $count }):
audit-flag-unknown-agent = preferred_agent_id is not an agent ({ $count }):
audit-flag-out-of-range = Invalid values the CRM sent, dropped ({ $count }):
export-caption = { $count ->
    [one] 1 ticket
   *[other] { $count } tickets
} opened in the last { $period }
export-empty = No tickets were opened in the last { $period }: nothing to export.
export-failed = The export could not be written; nothing was sent. Please try again.
stats-chart-failed = (The chart could not be drawn or sent this time; the figures above are complete.)
export-too-big = The export has { $count ->
    [one] 1 ticket
   *[other] { $count } tickets
} ({ $megabytes } MB), more than the 50 MB Telegram lets a bot send. Ask for a shorter period, for example /export 7d.
