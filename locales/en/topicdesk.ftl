# topicdesk, English. Every key here must exist in every locale (tested).
# HTML is allowed only where the message is sent with parse_mode=HTML (note-*).

## Customer intake
intake-welcome = Hi { $name }! What can we help you with? Please choose a topic:
category-billing = Billing and payments
category-technical = Technical problem
category-account = My account
category-other = Something else
intake-ask-description = { $category }: please describe your problem in one message. You can attach a photo or a file with a caption. Send /cancel to stop.
intake-hint-pick-category = Please choose one of the buttons above, or send /cancel.
intake-hint-description = Please describe your problem in words: a text message, or a photo or file with a caption.
intake-cancelled = Cancelled. Write to us any time to open a ticket.
intake-nothing-to-cancel = There is nothing to cancel. Just write your question to open a ticket.
button-expired = This button is no longer active.

## Customer, while a ticket is open
ticket-opened = Ticket #{ $id } opened. Our team will answer right here; anything you send in this chat is added to your ticket.
ticket-already-open = Your ticket #{ $id } is open: just write here and the team will see it.
ticket-closed-for-customer = Ticket #{ $id } is closed. Thank you for contacting us! To ask something new, just write here.
ticket-reopened-for-customer = Ticket #{ $id } has been reopened; the team will continue here.
edit-not-relayed = Edited messages are not passed on. Please send the correction as a new message.
unsupported-message = This kind of message can't be passed on. Please send text, a photo, a video, a voice message or a file.
customer-help = I connect you with our support team. Write your question and the team will answer in this chat. /start opens a ticket, /cancel stops opening one.
error-internal = Something went wrong on our side. Please try again in a minute.

## Command menu (setMyCommands)
cmd-start = Open a support ticket
cmd-cancel = Stop opening a ticket
cmd-help = How this bot works
cmd-close = Close this ticket and tell the customer
cmd-reopen = Reopen this ticket
cmd-note = Internal note, never sent to the customer

## Ticket topic
topic-name = #{ $id } · { $category } · { $customer }
topic-name-tier = #{ $id } · { $tier } · { $category } · { $customer }
note-tier-not-given = not given by the CRM
note-tier-crm-unavailable = unknown (CRM unavailable: { $why })
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
note-tier-unknown = unknown (no CRM connected)
note-category = Category
note-description = Description
note-assignee = Assigned to
note-assignee-none = nobody yet, waiting in the queue
note-routing = Routing
note-routing-not-enabled = automatic routing is not set up yet: any agent can answer in this topic
note-footer = Internal note: never sent to the customer.
relay-not-delivered-blocked = ⚠️ Not delivered: the customer has blocked the bot.
relay-not-delivered = ⚠️ Not delivered to the customer: { $reason }
relay-not-delivered-uncopyable = ⚠️ Not delivered: Telegram cannot copy this kind of message. Please send it another way.
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
