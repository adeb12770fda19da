# topicdesk, русский. Каждый ключ должен быть во всех локалях (это проверяется тестом).

## Customer intake
intake-welcome = Здравствуйте, { $name }! Чем мы можем помочь? Выберите тему:
category-billing = Оплата и счета
category-technical = Техническая проблема
category-account = Мой аккаунт
category-other = Другое
intake-ask-description = { $category }: опишите, пожалуйста, проблему одним сообщением. Можно приложить фото или файл с подписью. Чтобы прервать, отправьте /cancel.
intake-hint-pick-category = Пожалуйста, выберите одну из кнопок выше или отправьте /cancel.
intake-hint-description = Пожалуйста, опишите проблему словами: текстом или фото либо файлом с подписью.
intake-cancelled = Отменено. Напишите нам в любой момент, чтобы открыть обращение.
intake-nothing-to-cancel = Отменять нечего. Просто напишите свой вопрос, чтобы открыть обращение.
button-expired = Эта кнопка больше не действует.

## Customer, while a ticket is open
ticket-opened = Обращение #{ $id } открыто. Команда ответит прямо здесь; всё, что вы отправите в этот чат, добавится к обращению.
ticket-already-open = Ваше обращение #{ $id } открыто: просто пишите сюда, команда всё увидит.
ticket-closed-for-customer = Обращение #{ $id } закрыто. Спасибо, что написали нам! Если появится новый вопрос, просто напишите сюда.
ticket-reopened-for-customer = Обращение #{ $id } снова открыто; команда продолжит здесь.
edit-not-relayed = Изменённые сообщения не пересылаются. Пожалуйста, отправьте исправление новым сообщением.
unsupported-message = Такое сообщение нельзя переслать. Отправьте текст, фото, видео, голосовое сообщение или файл.
customer-help = Я связываю вас с нашей службой поддержки. Напишите вопрос, и команда ответит в этом чате. /start открывает обращение, /cancel прерывает его создание.
error-internal = У нас что-то пошло не так. Пожалуйста, попробуйте ещё раз через минуту.

## Command menu (setMyCommands)
cmd-start = Открыть обращение в поддержку
cmd-cancel = Прервать создание обращения
cmd-help = Как работает этот бот
cmd-close = Закрыть обращение и уведомить клиента
cmd-reopen = Снова открыть обращение
cmd-note = Внутренняя заметка, клиент её не увидит

## Ticket topic
topic-name = #{ $id } · { $category } · { $customer }
topic-name-tier = #{ $id } · { $tier } · { $category } · { $customer }
note-tier-not-given = CRM не сообщила
note-tier-crm-unavailable = неизвестен (CRM недоступна: { $why })
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
note-tier-unknown = неизвестен (CRM не подключена)
note-category = Категория
note-description = Описание
note-assignee = Исполнитель
note-assignee-none = пока никто, ждёт в очереди
note-routing = Маршрутизация
note-routing-not-enabled = автоматическая маршрутизация ещё не настроена: ответить в этой теме может любой агент
note-footer = Внутренняя заметка: клиенту не отправляется.
relay-not-delivered-blocked = ⚠️ Не доставлено: клиент заблокировал бота.
relay-not-delivered = ⚠️ Не доставлено клиенту: { $reason }
relay-not-delivered-uncopyable = ⚠️ Не доставлено: Telegram не может скопировать такое сообщение. Отправьте его иначе.
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
