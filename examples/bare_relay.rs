//! The floor to compare topicdesk's relay against (BENCHMARKS.md §4 D): a
//! bare teloxide bot with no database that copies each private message into
//! a forum topic of its sender, creating the topic on the first message.
//! Nothing is durable, nothing is routed, no flood control: what any relay
//! must at least do. Used by `DELIVERY_BENCH=bare cargo bench --bench
//! delivery`; not part of topicdesk.
//!
//! Settings: `TELOXIDE_TOKEN`, `TELOXIDE_API_URL`, `SUPPORT_GROUP_ID`.

use std::{collections::HashMap, sync::Arc};

use teloxide::{prelude::*, types::ThreadId};
use tokio::sync::Mutex;

/// Each customer's topic, created on their first message.
type Topics = Arc<Mutex<HashMap<ChatId, ThreadId>>>;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let token = std::env::var("TELOXIDE_TOKEN")?;
    let mut bot = Bot::new(token);
    if let Ok(url) = std::env::var("TELOXIDE_API_URL") {
        bot = bot.set_api_url(url.parse()?);
    }
    let group = ChatId(std::env::var("SUPPORT_GROUP_ID")?.parse()?);
    let topics: Topics = Arc::default();
    let handler = Update::filter_message().filter(|msg: Message| msg.chat.is_private()).endpoint(
        move |bot: Bot, topics: Topics, msg: Message| async move {
            let thread = {
                let mut known = topics.lock().await;
                match known.get(&msg.chat.id) {
                    Some(thread) => *thread,
                    None => {
                        let topic = bot.create_forum_topic(group, format!("chat {}", msg.chat.id)).await?;
                        known.insert(msg.chat.id, topic.thread_id);
                        topic.thread_id
                    }
                }
            };
            bot.copy_message(group, msg.chat.id, msg.id).message_thread_id(thread).await?;
            Ok::<(), teloxide::RequestError>(())
        },
    );
    Dispatcher::builder(bot, handler)
        .dependencies(dptree::deps![topics])
        .enable_ctrlc_handler()
        .build()
        .dispatch()
        .await;
    Ok(())
}
