# topicdesk, español. Cada clave debe existir en todas las traducciones (lo comprueba un test).

## Customer intake
intake-welcome = ¡Hola, { $name }! ¿En qué podemos ayudarte? Elige un tema:
category-billing = Pagos y facturación
category-technical = Problema técnico
category-account = Mi cuenta
category-other = Otra cosa
intake-ask-description = { $category }: describe tu problema en un solo mensaje. Puedes adjuntar una foto o un archivo con un pie de foto. Envía /cancel para salir.
intake-hint-pick-category = Elige uno de los botones de arriba o envía /cancel.
intake-hint-description = Describe tu problema con palabras: un mensaje de texto, o una foto o un archivo con pie de foto.
intake-cancelled = Cancelado. Escríbenos cuando quieras para abrir un ticket.
intake-nothing-to-cancel = No hay nada que cancelar. Escribe tu pregunta para abrir un ticket.
button-expired = Este botón ya no está activo.

## Customer, while a ticket is open
ticket-opened = Ticket #{ $id } abierto. Nuestro equipo te responderá aquí mismo; todo lo que envíes en este chat se añade a tu ticket.
ticket-already-open = Tu ticket #{ $id } está abierto: escribe aquí y el equipo lo verá.
ticket-closed-for-customer = El ticket #{ $id } está cerrado. ¡Gracias por contactarnos! Si necesitas algo más, escribe aquí.
ticket-reopened-for-customer = El ticket #{ $id } se ha reabierto; el equipo continuará aquí.
edit-not-relayed = Los mensajes editados no se reenvían. Envía la corrección como un mensaje nuevo.
unsupported-message = Este tipo de mensaje no se puede reenviar. Envía texto, una foto, un vídeo, un mensaje de voz o un archivo.
customer-help = Te pongo en contacto con nuestro equipo de soporte. Escribe tu pregunta y el equipo te responderá en este chat. /start abre un ticket, /cancel deja de abrirlo.
error-internal = Algo ha fallado por nuestra parte. Inténtalo de nuevo en un minuto.

## Command menu (setMyCommands)
cmd-start = Abrir un ticket de soporte
cmd-cancel = Dejar de abrir un ticket
cmd-help = Cómo funciona este bot
cmd-close = Cerrar este ticket y avisar al cliente
cmd-reopen = Reabrir este ticket
cmd-note = Nota interna, nunca se envía al cliente

## Ticket topic
topic-name = #{ $id } · { $category } · { $customer }
topic-name-tier = #{ $id } · { $tier } · { $category } · { $customer }
note-tier-not-given = el CRM no lo indicó
note-tier-crm-unavailable = desconocido (CRM no disponible: { $why })
note-orders = { $count ->
    [one] { $count } pedido
   *[other] { $count } pedidos
}
note-recent-tickets = { $count ->
    [one] { $count } ticket reciente
   *[other] { $count } tickets recientes
}
note-lifetime-value = valor de vida { $value }
note-title = Ticket #{ $id }
note-customer = Cliente
note-tier = Nivel
note-tier-unknown = desconocido (sin CRM conectado)
note-category = Categoría
note-description = Descripción
note-assignee = Asignado a
note-assignee-none = nadie todavía, esperando en la cola
note-routing = Enrutamiento
note-routing-not-enabled = el enrutamiento automático aún no está configurado: cualquier agente puede responder en este tema
note-footer = Nota interna: nunca se envía al cliente.
relay-not-delivered-blocked = ⚠️ No entregado: el cliente ha bloqueado el bot.
relay-not-delivered = ⚠️ No entregado al cliente: { $reason }
relay-not-delivered-uncopyable = ⚠️ No entregado: Telegram no puede copiar este tipo de mensaje. Envíalo de otra forma.
ticket-closed-by = ✅ Ticket #{ $id } cerrado por { $agent }. Se ha avisado al cliente.
ticket-already-closed = El ticket #{ $id } ya está cerrado.
ticket-reopened-by = 🔄 Ticket #{ $id } reabierto por { $agent }.
ticket-already-open-group = El ticket #{ $id } ya está abierto.
ticket-reopen-conflict = No se puede reabrir: el cliente tiene otro ticket abierto, #{ $other }.
ticket-closed-no-relay = El ticket #{ $id } está cerrado, así que este mensaje no se envió. Usa /reopen para continuar la conversación.
note-recorded = 📝 Nota interna guardada en este tema; el cliente no la ve.
note-usage = Uso: /note <texto>. Un comentario interno que el cliente nunca ve.
command-needs-ticket-topic = Este comando funciona dentro del tema de un ticket.
topic-not-a-ticket = Este tema no está vinculado a ningún ticket; los mensajes de aquí no se envían a nadie.
group-unknown-command = Comando desconocido. Disponibles aquí: { $commands }
group-help = topicdesk: cada ticket es un tema. Escribe en el tema de un ticket para responder al cliente. Comandos: { $commands }

## Routing (the reason in the pinned note)
tier-premium = Premium
tier-standard = Estándar
tier-basic = Básico
reason-crm-unavailable = CRM no disponible ({ $why })
reason-crm-none = sin CRM conectado
reason-tier = cliente { $tier }
reason-tier-orders = cliente { $tier } ({ $orders ->
    [one] { $orders } pedido
   *[other] { $orders } pedidos
})
reason-needs = requiere { $skill }
reason-preferred-unavailable = el agente preferido por el CRM ({ $id }) no puede atenderlo ahora
reason-preferred = { $agent } es el agente preferido por el CRM y está disponible (nivel { $level }, { $load ->
    [one] { $load } ticket abierto
   *[other] { $load } tickets abiertos
})
reason-senior = { $agent } es el agente de { $skill } disponible con más experiencia (nivel { $level }, { $load ->
    [one] { $load } ticket abierto
   *[other] { $load } tickets abiertos
})
reason-junior = { $agent } es el agente de { $skill } con menos experiencia que puede resolverlo (nivel { $level }, { $load ->
    [one] { $load } ticket abierto
   *[other] { $load } tickets abiertos
}), así los expertos quedan libres
reason-specialist = { $agent } es el agente de { $skill } disponible menos ocupado ({ $load ->
    [one] { $load } ticket abierto
   *[other] { $load } tickets abiertos
})
reason-generalist = no hay agentes de { $required } disponibles: { $agent } del grupo general ({ $load ->
    [one] { $load } ticket abierto
   *[other] { $load } tickets abiertos
})
reason-least-loaded = agente disponible menos ocupado: { $agent } ({ $load ->
    [one] { $load } ticket abierto
   *[other] { $load } tickets abiertos
})
reason-queued = no hay nadie disponible que pueda atenderlo, así que espera en la cola (prioridad { $priority })
reason-crm-says = el CRM dice: { $reason }
