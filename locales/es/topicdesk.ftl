# topicdesk, español. Cada clave debe existir en todas las traducciones (lo comprueba un test).

## Customer intake
intake-welcome = ¡Hola, { $name }! ¿En qué podemos ayudarte? Elige un tema:
category-billing = Pagos y facturación
category-technical = Problema técnico
category-account = Mi cuenta
category-other = Otra cosa
intake-ask-description = { $category }: describe tu problema en un solo mensaje. Puedes adjuntar una foto o un archivo con un pie de foto. Envía /cancel para salir.
intake-ask-description-draft = { $category }: escribiste «{ $draft }». Pulsa el botón para abrir tu ticket con ese texto, o describe tu problema en un mensaje nuevo.
intake-use-draft = ✅ Usar mi mensaje
intake-hint-pick-category = Elige uno de los botones de arriba o envía /cancel.
intake-hint-description = Recibido: se añadirá a tu ticket. Ahora describe tu problema con palabras (un mensaje de texto, o una foto o un archivo con pie de foto).
intake-cancelled = Cancelado. Escríbenos cuando quieras para abrir un ticket.
intake-nothing-to-cancel = No hay nada que cancelar. Escribe tu pregunta para abrir un ticket.
intake-cancel-ticket-open = Tu ticket #{ $id } está abierto, así que no hay nada que cancelar. Para cerrarlo, envía /close.
customer-close-nothing = No tienes ningún ticket abierto que cerrar. Escribe tu pregunta para abrir uno.
csat-question = ¿Qué tan satisfecho estás con la ayuda recibida? Elige una puntuación (5 = muy satisfecho).
csat-thanks = ¡Gracias por tu valoración!
csat-posted = ⭐ El cliente valoró este ticket con { $score }/5.
csat-changed = ⭐ El cliente cambió su valoración a { $score }/5.
button-expired = Este botón ya no está activo.
button-unreadable = Lo sentimos, no funcionó. Pulsa el botón otra vez o escríbenos.

## Customer, while a ticket is open
ticket-opened = Ticket #{ $id } abierto. Nuestro equipo te responderá aquí mismo; todo lo que envíes en este chat se añade a tu ticket.
ticket-received = Hemos recibido tu mensaje y lo hemos guardado. Nuestro equipo te responderá aquí mismo en cuanto pueda; todo lo que envíes en este chat se añade a él.
team-command-in-private = { $command } es un comando del equipo de soporte: envíalo en el grupo de soporte «{ $group }». Aquí hablas con el bot como lo haría un cliente.
ticket-already-open = Tu ticket #{ $id } está abierto: escribe aquí y el equipo lo verá.
ticket-closed-for-customer = El ticket #{ $id } está cerrado. ¡Gracias por contactarnos! Si escribes aquí pronto, este ticket continúa; /start abre uno nuevo.
ticket-closed-for-customer-new = El ticket #{ $id } está cerrado. ¡Gracias por contactarnos! Si necesitas algo más, escribe aquí.
ticket-reopened-for-customer = El ticket #{ $id } se ha reabierto; el equipo continuará aquí.
edit-not-relayed = Esta edición no se reenvió: solo se actualiza el texto o la leyenda de un mensaje de un ticket abierto. Envía la corrección como un mensaje nuevo.
unsupported-message = Telegram no permite reenviar esto ({ $kind }). Envía texto, una foto, un vídeo, un mensaje de voz o un archivo.
customer-flood-notice = Está enviando mensajes más rápido de lo que Telegram nos permite transmitirlos. No se pierde nada: todos llegan al equipo, en orden, aunque los últimos pueden tardar unos minutos.
message-unreadable = Lo sentimos, no pudimos leer ese mensaje, así que no llegó al equipo. Envíalo de nuevo, como texto, foto o archivo.
customer-help = Te pongo en contacto con nuestro equipo de soporte. Escribe tu pregunta y el equipo te responderá en este chat. /start abre un ticket, /cancel deja de abrirlo, /close cierra tu ticket abierto, /language elige el idioma en que te escribimos.
error-internal = Algo ha fallado por nuestra parte. Inténtalo de nuevo en un minuto.

## Command menu (setMyCommands)
cmd-start = Abrir un ticket de soporte
cmd-cancel = Dejar de abrir un ticket
cmd-close-customer = Cerrar mi ticket
cmd-language = Elegir mi idioma
language-choose = ¿En qué idioma te escribimos?
language-name = Español
language-set = Hecho: te escribiremos en español.
cmd-help = Cómo funciona este bot
cmd-close = Cerrar este ticket y avisar al cliente
cmd-reopen = Reabrir este ticket
cmd-note = Nota interna, nunca se envía al cliente

## Ticket topic
topic-name = #{ $id } · { $category } · { $customer }
topic-name-tier = #{ $id } · { $tier } · { $category } · { $customer }
note-tier-not-given = el CRM no lo indicó
note-tier-crm-unavailable = desconocido (CRM no disponible: { $why })
note-tier-crm-unusable = desconocido (la respuesta del CRM no tenía ningún campo válido)
note-tier-crm-invalid = desconocido (el CRM envió un nivel inválido)
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
note-history = Historial
note-history-first = primer ticket
note-history-count = { $count ->
    [one] 1 ticket anterior
   *[other] { $count } tickets anteriores
}
note-tier-unknown = desconocido (sin CRM conectado)
note-category = Categoría
note-description = Descripción
note-description-continued = (abreviada aquí: la descripción completa sigue abajo)
note-assignee = Asignado a
note-assignee-none = nadie todavía, esperando en la cola
note-routing = Enrutamiento
note-routing-not-enabled = el enrutamiento automático aún no está configurado: cualquier agente puede responder en este tema
note-footer = Nota interna: nunca se envía al cliente.
relay-not-delivered-blocked = ⚠️ No entregado: el cliente ha bloqueado el bot.
relay-not-delivered = ⚠️ No entregado al cliente. Telegram respondió: «{ $reason }».
relay-not-delivered-uncopyable = ⚠️ No entregado: Telegram no puede copiar esto ({ $kind }). Envíalo de otra forma.
delivery-failed-topic = ⚠️ Ticket #{ $id }: Telegram no permitió crear su tema o escribir en él (Telegram respondió: «{ $reason }»). Comprueba que el bot es administrador con los permisos «Gestionar temas» y «Fijar mensajes»; topicdesk lo reintenta cada 30 segundos.
delivery-held-topics = ⚠️ El ticket #{ $id } espera su tema: el bot no puede crear ni gestionar temas en este grupo. Haz al bot administrador con el permiso «Gestionar temas». No se pierde nada: el ticket y sus mensajes llegarán en cuanto el bot pueda.
group-ready-again = ✅ topicdesk puede volver a trabajar en este grupo: es administrador con «Gestionar temas» y «Fijar mensajes». Los tickets que esperaban su tema se están creando ahora.
edit-not-relayed-agent = ✏️ Esta edición no se envió (solo se envían textos y leyendas): el cliente ve la primera versión. Envía la corrección como un mensaje nuevo.
edited-copy = ✏️ Editado: { $text }
message-unreadable-group = ⚠️ No se pudo leer este mensaje, así que no se envió al cliente. Envíalo de nuevo de otra forma.
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
reason-crm-unusable = respuesta del CRM no usada, todos los valores son inválidos: { $fields }
reason-crm-invalid = el CRM envió valores inválidos, ignorados: { $fields }
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

## Admin and agent commands
cmd-take = Tomar este ticket en espera
cmd-reassign = Pasar el ticket a otro agente (admins)
cmd-available = Puedo recibir tickets
cmd-away = Pausar tickets nuevos para mí
cmd-offline = He terminado por hoy
cmd-agents = Agentes, habilidades, estado y carga
cmd-agent-add = Añadir un agente (admins)
cmd-agent-remove = Quitar un agente (admins)
cmd-skill-add = Dar una habilidad a un agente (admins)
cmd-skill-remove = Quitar una habilidad (admins)
admin-only = Solo los admins pueden hacer eso (sus ids están en ADMIN_IDS). No se ha cambiado nada.
command-already-done = ✅ Hecho: este comando se ejecutó justo antes de que el bot se reiniciara.
agent-only = Esto es para agentes. Un admin puede añadirte con /agent_add { $id }.
outsider-not-relayed = Solo los agentes y administradores pueden responder a los clientes: este mensaje no se envió (ni se enviarán los siguientes). Un administrador puede añadirte con /agent_add { $id }.
agent-default-name = Agente { $id }
usage-agent-add = Uso: /agent_add <id de usuario | @username> [capacidad], o responde a un mensaje de la persona con /agent_add [capacidad]. La capacidad es de 1 a 50 tickets abiertos (5 por defecto).
usage-agent-remove = Uso: /agent_remove <id de usuario | @username>
usage-skill-add = Uso: /skill_add <id de usuario | @username> <habilidad>[:nivel], p. ej. /skill_add 12345 billing:3 (nivel 1–3, 3 = sénior; 1 por defecto).
usage-skill-remove = Uso: /skill_remove <id de usuario | @username> <habilidad>
usage-reassign = Uso: /reassign <id del agente | @username>, en el tema del ticket.
agent-added = ✅ { $name } ({ $id }) ya es agente: capacidad { $capacity }, disponible. Añade habilidades con /skill_add { $id } <habilidad>[:nivel].
agent-updated = ✅ { $name } ({ $id }): capacidad fijada en { $capacity }.
agent-capacity-below-load = ⚠️ { $name } tiene { $load } tickets abiertos, más que la nueva capacidad { $capacity }: los conserva y no recibe nuevos hasta bajar de ella.
agent-removed = ✅ { $name } ({ $id }) ya no es agente. { $count ->
    [0] No tenía tickets abiertos.
    [one] Su ticket abierto volvió a la cola.
   *[other] Sus { $count } tickets abiertos volvieron a la cola.
}
agent-not-found = No existe el agente { $id }. /agents los lista; /agent_add añade uno.
username-unknown = No sé quién es { $username }: Telegram no dice a los bots de quién es un nombre de usuario y aún no he visto a ningún agente con él. Responde con el comando a uno de sus mensajes, elígelo de la lista de menciones o usa su id numérico.
skill-added = ✅ { $name } ({ $id }) ahora tiene { $skill }.
skill-not-required = ⚠️ Ninguna categoría necesita la habilidad «{ $skill }» (necesitan: { $needed }), así que ningún ticket se enrutaría por ella. ¿Una errata? Para añadirla igualmente, envía: /skill_add { $id } { $skill } force
skill-removed = ✅ { $name } ({ $id }) ya no tiene { $skill }.
skill-not-held = { $name } ({ $id }) no tiene la habilidad { $skill }.
status-available = disponible
status-away = ausente
status-offline = desconectado
status-set-available = ✅ { $name } está disponible: pueden llegarte tickets nuevos.
status-set-away = ✅ { $name } está ausente: no recibirás tickets nuevos hasta que envíes /available.
status-set-away-gives-back = ✅ { $name } está ausente: no recibirás tickets nuevos hasta que envíes /available. Los tickets que aún no has respondido pasan a otro agente.
status-set-offline = ✅ { $name } está desconectado: no recibirás tickets nuevos hasta que envíes /available. Los tickets que aún no has respondido pasan a otro agente.
roster-empty = Aún no hay agentes. Un admin los añade con /agent_add <id de usuario>.
roster-title = Agentes ({ $count }):
roster-no-skills = sin habilidades todavía
queue-more = …y { $count } más.
tier-unknown = nivel desconocido
ticket-not-open = El ticket #{ $id } está cerrado; reábrelo primero con /reopen.
take-already-yours = El ticket #{ $id } ya es tuyo.
take-assigned-to-other = El ticket #{ $id } está asignado a { $name }. Un admin puede moverlo con /reassign.
take-at-capacity = Estás al límite de tu capacidad ({ $capacity ->
    [one] 1 ticket abierto
   *[other] { $capacity } tickets abiertos
}). Cierra uno primero.
reassign-done = ✅ El ticket #{ $id } está asignado a { $name }.
reassign-at-capacity = { $name } está al límite de capacidad; elige otro agente o súbela con /agent_add.
reason-taken = { $agent } lo tomó con /take
reason-reassigned = { $admin } lo reasignó a { $agent }
reason-override = escalado premium: ningún agente respondió en { $after } desde la apertura, así que { $agent } lo toma como siguiente agente disponible ({ $load ->
    [one] { $load } ticket abierto
   *[other] { $load } tickets abiertos
}), sin importar la habilidad
reason-override-since-assignment = escalado premium: ningún agente respondió en { $after } desde su última asignación, así que { $agent } lo toma como siguiente agente disponible ({ $load ->
    [one] { $load } ticket abierto
   *[other] { $load } tickets abiertos
}), sin importar la habilidad
reason-override-released = se liberó a { $previous }
reason-reopened-previous-unavailable = reabierto mientras { $previous } no puede atenderlo (ya no es agente, no está disponible o está al máximo): enrutado de nuevo
reason-agent-offline = { $previous } se desconectó antes de responder: enrutado de nuevo
reason-agent-away = { $previous } se ausentó antes de responder: enrutado de nuevo
# Kinds of messages, named in notices.
kind-text = mensaje de texto
kind-photo = foto
kind-video = vídeo
kind-animation = GIF
kind-document = archivo
kind-audio = archivo de audio
kind-voice = mensaje de voz
kind-video-note = videomensaje
kind-sticker = sticker
kind-location = ubicación
kind-venue = lugar
kind-contact = contacto
kind-poll = encuesta
kind-dice = dado
kind-other = mensaje

# Informes (DESIGN §15).
cmd-queue = Tickets que nadie ha respondido aún
cmd-stats = Tiempos de respuesta, CSAT, carga y un gráfico [periodo]
cmd-audit = Estado del CRM y calidad de sus datos [periodo] (admins)
cmd-export = Tickets en un archivo CSV [periodo] (admins)
queue-empty = Nada en espera: cada ticket abierto ya tiene respuesta.
queue-title = Sin responder ({ $count }), por prioridad y antigüedad:
queue-line = • #{ $id } · { $tier } · { $category } · prioridad { $priority } · { $state } · esperando { $wait } { $link }
queue-state-waiting = esperando agente
queue-state-assigned = con { $name }, sin responder
roster-line = • { $name } ({ $id }) · { $status } · { $load }/{ $capacity } abiertos · { $skills } · { $today }
roster-today = hoy (UTC): { $count } respondidos, primera respuesta p50 { $p50 }
roster-today-none = hoy (UTC): ninguno respondido
usage-stats = Uso: /stats [periodo], por ejemplo /stats 24h, /stats 7d (por defecto) o /stats 30d.
usage-audit = Uso: /audit [periodo], por ejemplo /audit 24h, /audit 7d (por defecto) o /audit 30d.
usage-export = Uso: /export [periodo], por ejemplo /export 24h, /export 7d (por defecto) o /export 30d.
stats-title = 📊 Últimos { $period } ({ $from } – { $to })
stats-no-tickets = No se abrió ni se cerró ningún ticket en este periodo.
stats-tickets-title = Tickets abiertos / cerrados:
stats-tickets-line = • { $tier }: { $opened } / { $closed }
stats-frt-title = Primera respuesta (p50 · p90):
stats-frt-none = • aún no hay primeras respuestas
stats-frt-line = • { $tier }: { $p50 } · { $p90 } ({ $count } respondidos)
stats-resolution-title = Resolución (p50 · p90):
stats-resolution-none = • aún no hay cerrados
stats-resolution-line = • { $tier }: { $p50 } · { $p90 } ({ $count } cerrados)
stats-counters = Escalados premium: { $overrides } · reasignaciones: { $reassignments } · sin datos del CRM: { $fallbacks }
stats-csat = CSAT: { $average } ({ $count ->
    [one] 1 valoración
   *[other] { $count } valoraciones
})
stats-agents-title = Agentes (tickets · primera respuesta p50 · CSAT):
stats-agent-line = • { $name }: { $tickets } · { $p50 } · { $csat } ({ $ratings })
stats-budget = Presupuesto del grupo: { $p50 } mensajes/min (mediana de los minutos en que el bot envió algo), pico { $peak } de { $limit } que permite Telegram · espera más larga de un mensaje enviado en la cola { $wait }
stats-budget-full = ⚠️ El grupo llegó al límite de Telegram: hubo mensajes en cola. Considere un segundo grupo de soporte.
chart-title = Primera respuesta p90 por nivel, últimos { $period }
chart-minutes-axis = p90 primera respuesta (min)
chart-tickets-axis = tickets / día
chart-caption = Primera respuesta p90 por nivel y día (días UTC; el primero y el último pueden ser parciales), con los tickets por día (últimos { $period })
audit-title = 🔎 Auditoría del CRM, últimos { $period }
audit-no-crm = No hay CRM conectado (ROUTING_WEBHOOK_URL no está definido): los tickets se asignan sin él.
audit-no-calls = No hubo llamadas al CRM en este periodo.
audit-calls = Llamadas: { $calls } · respondidas a tiempo: { $answered } · tiempos agotados: { $timeouts } · errores HTTP: { $http } · respuestas no válidas: { $invalid } · otros fallos: { $other }
audit-latency = Latencia: p50 { $p50 } · p99 { $p99 }
audit-fallbacks = Tickets asignados sin datos del CRM: { $fallbacks } (de ellos { $refused } con el cortacircuitos abierto) · aperturas del cortacircuitos: { $openings }
audit-invalid-fields = Campos no válidos: { $fields }
audit-flags-none = Calidad de datos: sin avisos.
audit-flag-tier-changed = El nivel cambió desde el ticket anterior del cliente ({ $count }):
audit-flag-unknown-agent = preferred_agent_id no es un agente ({ $count }):
audit-flag-out-of-range = Valores no válidos que envió el CRM, descartados ({ $count }):
export-caption = { $count ->
    [one] 1 ticket abierto
   *[other] { $count } tickets abiertos
} en los últimos { $period }
export-empty = No se abrió ningún ticket en los últimos { $period }: no hay nada que exportar.
export-failed = No se pudo escribir la exportación; no se envió nada. Inténtelo de nuevo.
stats-chart-failed = (No se pudo dibujar o enviar el gráfico esta vez; las cifras de arriba están completas.)
export-too-big = La exportación tiene { $count ->
    [one] 1 ticket
   *[other] { $count } tickets
} ({ $megabytes } MB), más de los 50 MB que Telegram deja enviar a un bot. Pida un periodo más corto, por ejemplo /export 7d.
