# topicdesk, русский. Каждый ключ должен быть во всех локалях (это проверяется тестом).

## Customer intake
intake-welcome = Здравствуйте, { $name }! Чем мы можем помочь? Выберите тему:
category-billing = Оплата и счета
category-technical = Техническая проблема
category-account = Мой аккаунт
category-other = Другое
intake-ask-description = { $category }: опишите, пожалуйста, проблему одним сообщением. Можно приложить фото или файл с подписью. Чтобы прервать, отправьте /cancel.
intake-ask-description-draft = { $category }: вы написали «{ $draft }». Нажмите кнопку, чтобы открыть обращение с этим текстом, или опишите проблему новым сообщением.
intake-use-draft = ✅ Использовать моё сообщение
intake-hint-pick-category = Пожалуйста, выберите одну из кнопок выше или отправьте /cancel.
intake-hint-description = Получено: это будет добавлено к обращению. Теперь, пожалуйста, опишите проблему словами (текстом или фото либо файлом с подписью).
intake-cancelled = Отменено. Напишите нам в любой момент, чтобы открыть обращение.
intake-nothing-to-cancel = Отменять нечего. Просто напишите свой вопрос, чтобы открыть обращение.
intake-cancel-ticket-open = Ваше обращение #{ $id } открыто, отменять нечего. Чтобы закрыть его, отправьте /close.
customer-close-nothing = У вас нет открытого обращения. Просто напишите вопрос, чтобы открыть его.
csat-question = Насколько вы довольны полученной помощью? Выберите оценку (5 — очень доволен).
csat-thanks = Спасибо за оценку!
csat-posted = ⭐ Клиент оценил обращение на { $score }/5.
csat-changed = ⭐ Клиент изменил оценку на { $score }/5.
button-expired = Эта кнопка больше не действует.
button-unreadable = Извините, не получилось. Нажмите кнопку ещё раз или напишите нам.

## Customer, while a ticket is open
ticket-opened = Обращение #{ $id } открыто. Команда ответит прямо здесь; всё, что вы отправите в этот чат, добавится к обращению.
ticket-received = Мы получили ваше сообщение и сохранили его. Команда ответит прямо здесь, как только сможет; всё, что вы отправите в этот чат, добавится к нему.
team-command-in-private = { $command } — команда для команды поддержки: отправьте её в группе поддержки «{ $group }». Здесь вы общаетесь с ботом как клиент.
ticket-already-open = Ваше обращение #{ $id } открыто: просто пишите сюда, команда всё увидит.
ticket-closed-for-customer = Обращение #{ $id } закрыто. Спасибо, что написали нам! Если вы напишете сюда в ближайшее время, это обращение продолжится; /start открывает новое.
ticket-closed-for-customer-new = Обращение #{ $id } закрыто. Спасибо, что написали нам! Если появится новый вопрос, просто напишите сюда.
ticket-reopened-for-customer = Обращение #{ $id } снова открыто; команда продолжит здесь.
edit-not-relayed = Эта правка не передана: обновляется только текст или подпись сообщения в открытом обращении. Пожалуйста, отправьте исправление новым сообщением.
unsupported-message = Telegram не позволяет передать это ({ $kind }). Пожалуйста, отправьте текст, фото, видео, голосовое сообщение или файл.
customer-flood-notice = Вы отправляете сообщения быстрее, чем Telegram позволяет нам их передавать. Ничего не потеряется: все сообщения дойдут до команды по порядку, хотя последние могут идти несколько минут.
message-unreadable = Извините, мы не смогли прочитать это сообщение, и оно не дошло до команды. Пожалуйста, отправьте его ещё раз — текстом, фото или файлом.
customer-help = Я связываю вас с нашей службой поддержки. Напишите вопрос, и команда ответит в этом чате. /start открывает обращение, /cancel прерывает его создание, /close закрывает открытое обращение, /language выбирает язык, на котором мы пишем.
error-internal = У нас что-то пошло не так. Пожалуйста, попробуйте ещё раз через минуту.

## Command menu (setMyCommands)
cmd-start = Открыть обращение в поддержку
cmd-cancel = Прервать создание обращения
cmd-close-customer = Закрыть моё обращение
cmd-language = Выбрать язык
language-choose = На каком языке вам писать?
language-name = Русский
language-set = Готово: будем писать вам по-русски.
cmd-help = Как работает этот бот
cmd-close = Закрыть обращение и уведомить клиента
cmd-reopen = Снова открыть обращение
cmd-note = Внутренняя заметка, клиент её не увидит

## Ticket topic
topic-name = #{ $id } · { $category } · { $customer }
topic-name-tier = #{ $id } · { $tier } · { $category } · { $customer }
note-tier-not-given = CRM не сообщила
note-tier-crm-unavailable = неизвестен (CRM недоступна: { $why })
note-tier-crm-unusable = неизвестен (в ответе CRM нет ни одного верного поля)
note-tier-crm-invalid = неизвестен (CRM прислала неверный уровень)
note-orders = { $count ->
    [one] { $count } заказ
    [few] { $count } заказа
   *[other] { $count } заказов
}
note-recent-tickets = { $count ->
    [one] { $count } недавнее обращение
    [few] { $count } недавних обращения
   *[other] { $count } недавних обращений
}
note-lifetime-value = сумма покупок { $value }
note-title = Обращение #{ $id }
note-customer = Клиент
note-tier = Уровень
note-history = История
note-history-first = первое обращение
note-history-count = { $count ->
    [one] { $count } прежнее обращение
    [few] { $count } прежних обращения
   *[other] { $count } прежних обращений
}
note-tier-unknown = неизвестен (CRM не подключена)
note-category = Категория
note-description = Описание
note-description-continued = (здесь сокращено: полный текст описания — ниже)
note-assignee = Исполнитель
note-assignee-none = пока никто, ждёт в очереди
note-routing = Маршрутизация
note-routing-not-enabled = автоматическая маршрутизация ещё не настроена: ответить в этой теме может любой агент
note-footer = Внутренняя заметка: клиенту не отправляется.
relay-not-delivered-blocked = ⚠️ Не доставлено: клиент заблокировал бота.
relay-not-delivered = ⚠️ Не доставлено клиенту. Ответ Telegram: «{ $reason }».
relay-not-delivered-uncopyable = ⚠️ Не доставлено: Telegram не может скопировать это ({ $kind }). Отправьте это иначе.
delivery-failed-topic = ⚠️ Обращение #{ $id }: Telegram не дал создать тему или написать в неё (ответ Telegram: «{ $reason }»). Проверьте, что бот — администратор с правами «Управление темами» и «Закрепление сообщений»; topicdesk повторяет попытку каждые 30 секунд.
delivery-held-topics = ⚠️ Обращение #{ $id } ждёт свою тему: боту нельзя создавать темы и управлять ими в этой группе. Сделайте бота администратором с правом «Управление темами». Ничего не потеряется: обращение и его сообщения появятся, как только у бота будет право.
group-ready-again = ✅ topicdesk снова может работать в этой группе: он администратор с правами «Управление темами» и «Закрепление сообщений». Обращения, ждавшие свои темы, создаются сейчас.
edit-not-relayed-agent = ✏️ Эта правка не передана (передаются только тексты и подписи): клиент видит первую версию. Отправьте исправление новым сообщением.
edited-copy = ✏️ Исправлено: { $text }
message-unreadable-group = ⚠️ Это сообщение не удалось прочитать, поэтому клиент его не получил. Пожалуйста, отправьте его ещё раз в другом виде.
ticket-closed-by = ✅ Обращение #{ $id } закрыл(а) { $agent }. Клиент уведомлён.
ticket-already-closed = Обращение #{ $id } уже закрыто.
ticket-reopened-by = 🔄 Обращение #{ $id } снова открыл(а) { $agent }.
ticket-already-open-group = Обращение #{ $id } уже открыто.
ticket-reopen-conflict = Нельзя открыть снова: у клиента есть другое открытое обращение, #{ $other }.
ticket-closed-no-relay = Обращение #{ $id } закрыто, поэтому сообщение не отправлено. Чтобы продолжить разговор, используйте /reopen.
note-recorded = 📝 Внутренняя заметка осталась в этой теме; клиент её не видит.
note-usage = Использование: /note <текст>. Внутренняя заметка, которую клиент никогда не увидит.
command-needs-ticket-topic = Эта команда работает внутри темы обращения.
topic-not-a-ticket = Эта тема не связана с обращением; сообщения отсюда никому не отправляются.
group-unknown-command = Неизвестная команда. Здесь доступны: { $commands }
group-help = topicdesk: каждое обращение — отдельная тема. Пишите в теме обращения, чтобы ответить клиенту. Команды: { $commands }

## Routing (the reason in the pinned note)
tier-premium = Премиум
tier-standard = Стандарт
tier-basic = Базовый
reason-crm-unavailable = CRM недоступна ({ $why })
reason-crm-none = CRM не подключена
reason-crm-unusable = ответ CRM не использован, все значения неверны: { $fields }
reason-crm-invalid = CRM прислала неверные значения, они пропущены: { $fields }
reason-tier = клиент уровня «{ $tier }»
reason-tier-orders = клиент уровня «{ $tier }» ({ $orders ->
    [one] { $orders } заказ
    [few] { $orders } заказа
   *[other] { $orders } заказов
})
reason-needs = нужен навык { $skill }
reason-preferred-unavailable = предпочтительный агент CRM { $id } сейчас не может взять обращение
reason-preferred = { $agent } — предпочтительный агент по данным CRM и свободен (уровень { $level }, { $load ->
    [one] { $load } открытое обращение
    [few] { $load } открытых обращения
   *[other] { $load } открытых обращений
})
reason-senior = { $agent } — самый опытный свободный агент по навыку { $skill } (уровень { $level }, { $load ->
    [one] { $load } открытое обращение
    [few] { $load } открытых обращения
   *[other] { $load } открытых обращений
})
reason-junior = { $agent } — наименее опытный агент по навыку { $skill }, который справится (уровень { $level }, { $load ->
    [one] { $load } открытое обращение
    [few] { $load } открытых обращения
   *[other] { $load } открытых обращений
}); старшие остаются свободны
reason-specialist = { $agent } — наименее загруженный свободный агент по навыку { $skill } ({ $load ->
    [one] { $load } открытое обращение
    [few] { $load } открытых обращения
   *[other] { $load } открытых обращений
})
reason-generalist = нет свободных агентов с навыком { $required }: { $agent } из общего пула ({ $load ->
    [one] { $load } открытое обращение
    [few] { $load } открытых обращения
   *[other] { $load } открытых обращений
})
reason-least-loaded = наименее загруженный свободный агент: { $agent } ({ $load ->
    [one] { $load } открытое обращение
    [few] { $load } открытых обращения
   *[other] { $load } открытых обращений
})
reason-queued = свободных подходящих агентов нет, обращение ждёт в очереди (приоритет { $priority })
reason-crm-says = CRM: { $reason }

## Admin and agent commands
cmd-take = Взять это ожидающее обращение
cmd-reassign = Передать обращение другому агенту (админы)
cmd-available = Я могу брать обращения
cmd-away = Пауза: не давать мне новые обращения
cmd-offline = Я закончил на сегодня
cmd-agents = Агенты, навыки, статус и нагрузка
cmd-agent-add = Добавить агента (админы)
cmd-agent-remove = Удалить агента (админы)
cmd-skill-add = Дать агенту навык (админы)
cmd-skill-remove = Забрать навык (админы)
admin-only = Это могут делать только админы (их id перечислены в ADMIN_IDS). Ничего не изменено.
command-already-done = ✅ Готово: эта команда была выполнена прямо перед перезапуском бота.
agent-only = Это для агентов. Админ может добавить вас командой /agent_add { $id }.
outsider-not-relayed = Отвечать клиентам могут только агенты и администраторы: это сообщение не передано (и следующие тоже не будут). Администратор может добавить вас командой /agent_add { $id }.
agent-default-name = Агент { $id }
usage-agent-add = Использование: /agent_add <id пользователя | @username> [ёмкость] или ответом на сообщение человека: /agent_add [ёмкость]. Ёмкость — 1–50 открытых обращений (по умолчанию 5).
usage-agent-remove = Использование: /agent_remove <id пользователя | @username>
usage-skill-add = Использование: /skill_add <id пользователя | @username> <навык>[:уровень], например /skill_add 12345 billing:3 (уровень 1–3, 3 — старший; по умолчанию 1).
usage-skill-remove = Использование: /skill_remove <id пользователя | @username> <навык>
usage-reassign = Использование: /reassign <id агента | @username>, в теме обращения.
agent-added = ✅ { $name } ({ $id }) теперь агент: ёмкость { $capacity }, доступен. Навыки добавляются командой /skill_add { $id } <навык>[:уровень].
agent-updated = ✅ { $name } ({ $id }): ёмкость теперь { $capacity }.
agent-capacity-below-load = ⚠️ У { $name } открыто { $load }, это больше новой ёмкости { $capacity }: обращения остаются у агента, новых не будет, пока их не станет меньше.
agent-removed = ✅ { $name } ({ $id }) больше не агент. { $count ->
    [0] Открытых обращений у него не было.
    [one] Его { $count } открытое обращение вернулось в очередь.
    [few] Его { $count } открытых обращения вернулись в очередь.
   *[other] Его { $count } открытых обращений вернулись в очередь.
}
agent-not-found = Агента { $id } нет. Список — /agents; добавить — /agent_add.
username-unknown = Не знаю, кто такой { $username }: Telegram не сообщает ботам, чей это username, а агента с ним я ещё не видел. Ответьте командой на одно из их сообщений, выберите человека из списка упоминаний или укажите числовой id.
skill-added = ✅ У { $name } ({ $id }) теперь есть навык { $skill }.
skill-not-required = ⚠️ Навык «{ $skill }» не нужен ни одной категории (им нужны: { $needed }), поэтому по нему не будет назначено ни одно обращение. Опечатка? Чтобы всё равно добавить, отправьте: /skill_add { $id } { $skill } force
skill-removed = ✅ У { $name } ({ $id }) больше нет навыка { $skill }.
skill-not-held = У { $name } ({ $id }) нет навыка { $skill }.
status-available = доступен
status-away = отошёл
status-offline = не в сети
status-set-available = ✅ { $name } доступен: вам могут приходить новые обращения.
status-set-away = ✅ { $name } отошёл: новых обращений не будет, пока вы не отправите /available.
status-set-away-gives-back = ✅ { $name } отошёл: новых обращений не будет, пока вы не отправите /available. Обращения, на которые вы ещё не ответили, переходят к другому агенту.
status-set-offline = ✅ { $name } не в сети: новых обращений не будет, пока вы не отправите /available. Обращения, на которые вы ещё не ответили, переходят к другому агенту.
roster-empty = Агентов пока нет. Админ добавляет их командой /agent_add <id пользователя>.
roster-title = Агенты ({ $count }):
roster-no-skills = навыков пока нет
queue-more = …и ещё { $count }.
tier-unknown = уровень неизвестен
ticket-not-open = Обращение #{ $id } закрыто; сначала откройте его снова командой /reopen.
take-already-yours = Обращение #{ $id } уже ваше.
take-assigned-to-other = Обращение #{ $id } назначено агенту { $name }. Админ может передать его командой /reassign.
take-at-capacity = Вы на пределе ёмкости ({ $capacity ->
    [one] { $capacity } открытое обращение
    [few] { $capacity } открытых обращения
   *[other] { $capacity } открытых обращений
}). Сначала закройте одно.
reassign-done = ✅ Обращение #{ $id } назначено агенту { $name }.
reassign-at-capacity = У { $name } нет свободной ёмкости; выберите другого агента или увеличьте её через /agent_add.
reason-taken = { $agent } взял(а) обращение командой /take
reason-reassigned = { $admin } передал(а) обращение агенту { $agent }
reason-override = премиум-эскалация: за { $after } после открытия агент не ответил, поэтому обращение получает { $agent } как следующий свободный агент ({ $load ->
    [one] { $load } открытое обращение
    [few] { $load } открытых обращения
   *[other] { $load } открытых обращений
}), независимо от навыков
reason-override-since-assignment = премиум-эскалация: за { $after } после последнего назначения агент не ответил, поэтому обращение получает { $agent } как следующий свободный агент ({ $load ->
    [one] { $load } открытое обращение
    [few] { $load } открытых обращения
   *[other] { $load } открытых обращений
}), независимо от навыков
reason-override-released = { $previous } освобождён(а) от обращения
reason-reopened-previous-unavailable = обращение открыто снова, а { $previous } не может его взять (больше не агент, недоступен или загружен полностью): маршрутизировано заново
reason-agent-offline = { $previous } ушёл офлайн, не ответив: маршрутизировано заново
reason-agent-away = { $previous } отошёл, не ответив: маршрутизировано заново
# Kinds of messages, named in notices.
kind-text = текстовое сообщение
kind-photo = фото
kind-video = видео
kind-animation = GIF
kind-document = файл
kind-audio = аудиофайл
kind-voice = голосовое сообщение
kind-video-note = видеосообщение
kind-sticker = стикер
kind-location = геопозиция
kind-venue = место
kind-contact = контакт
kind-poll = опрос
kind-dice = кубик
kind-other = сообщение

# Аналитика (DESIGN §15).
cmd-queue = Обращения, на которые ещё не ответили
cmd-stats = Время ответа, CSAT, нагрузка и график [период]
cmd-audit = Состояние CRM и качество данных [период] (админы)
cmd-export = Обращения в CSV-файле [период] (админы)
queue-empty = Никто не ждёт: на каждое открытое обращение уже ответили.
queue-title = Без ответа ({ $count }), по приоритету и времени ожидания:
queue-line = • #{ $id } · { $tier } · { $category } · приоритет { $priority } · { $state } · ждёт { $wait } { $link }
queue-state-waiting = ждёт агента
queue-state-assigned = у агента { $name }, без ответа
roster-line = • { $name } ({ $id }) · { $status } · открыто { $load }/{ $capacity } · { $skills } · { $today }
roster-today = сегодня (UTC): отвечено { $count }, первый ответ p50 { $p50 }
roster-today-none = сегодня (UTC): ответов нет
usage-stats = Как вызвать: /stats [период], например /stats 24h, /stats 7d (по умолчанию) или /stats 30d.
usage-audit = Как вызвать: /audit [период], например /audit 24h, /audit 7d (по умолчанию) или /audit 30d.
usage-export = Как вызвать: /export [период], например /export 24h, /export 7d (по умолчанию) или /export 30d.
stats-title = 📊 За { $period } ({ $from } – { $to })
stats-no-tickets = За этот период обращений не открывали и не закрывали.
stats-tickets-title = Обращения, открыто / закрыто:
stats-tickets-line = • { $tier }: { $opened } / { $closed }
stats-frt-title = Первый ответ (p50 · p90):
stats-frt-none = • первых ответов пока нет
stats-frt-line = • { $tier }: { $p50 } · { $p90 } (отвечено { $count })
stats-resolution-title = Решение (p50 · p90):
stats-resolution-none = • закрытых пока нет
stats-resolution-line = • { $tier }: { $p50 } · { $p90 } (закрыто { $count })
stats-counters = Премиум-перехваты: { $overrides } · переназначения: { $reassignments } · без данных CRM: { $fallbacks }
stats-csat = CSAT: { $average } (оценок: { $count })
stats-agents-title = Агенты (обращения · первый ответ p50 · CSAT):
stats-agent-line = • { $name }: { $tickets } · { $p50 } · { $csat } ({ $ratings })
stats-budget = Бюджет группы: { $p50 } сообщ./мин (медиана по минутам, когда бот что-то отправлял), пик { $peak } из { $limit } по лимиту Telegram · самое долгое ожидание отправленного сообщения в очереди { $wait }
stats-budget-full = ⚠️ Группа упиралась в лимит Telegram: сообщения ждали очереди. Подумайте о второй группе поддержки.
chart-title = Первый ответ p90 по уровням, за { $period }
chart-minutes-axis = p90 первого ответа (мин)
chart-tickets-axis = обращений в день
chart-caption = Первый ответ p90 по уровням клиентов по дням (дни по UTC; первый и последний могут быть неполными) и число обращений в день (за { $period })
audit-title = 🔎 Аудит CRM за { $period }
audit-no-crm = CRM не подключена (ROUTING_WEBHOOK_URL не задан): обращения распределяются без неё.
audit-no-calls = За этот период запросов к CRM не было.
audit-calls = Запросов: { $calls } · ответ вовремя: { $answered } · тайм-ауты: { $timeouts } · ошибки HTTP: { $http } · неверный ответ: { $invalid } · прочие сбои: { $other }
audit-latency = Задержка: p50 { $p50 } · p99 { $p99 }
audit-fallbacks = Распределено без данных CRM: { $fallbacks } (из них при разомкнутом предохранителе: { $refused }) · срабатываний предохранителя: { $openings }
audit-invalid-fields = Неверные поля: { $fields }
audit-flags-none = Качество данных: замечаний нет.
audit-flag-tier-changed = Уровень изменился с прошлого обращения клиента ({ $count }):
audit-flag-unknown-agent = preferred_agent_id не является агентом ({ $count }):
audit-flag-out-of-range = Неверные значения от CRM, отброшены ({ $count }):
export-caption = Обращений, открытых за { $period }: { $count }
export-empty = За { $period } обращений не открывали: выгружать нечего.
export-failed = Не удалось записать выгрузку; ничего не отправлено. Попробуйте ещё раз.
stats-chart-failed = (График не удалось нарисовать или отправить; цифры выше полные.)
export-too-big = В выгрузке обращений: { $count } ({ $megabytes } МБ) — больше 50 МБ, которые Telegram позволяет отправить боту. Запросите период короче, например /export 7d.
