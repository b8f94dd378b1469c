//! One MQTT broker connection through rumqttc.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Outgoing, Packet, SubscribeReasonCode};
use tokio::sync::{mpsc, oneshot};
use tokio::task::JoinHandle;

use super::{Message, MqttClient, MqttError, QoS, TopicFilter};
use crate::BoxFuture;
use crate::config::{ConfigError, MqttConfig};
use crate::health::{Health, HealthState, now_ms};

/// Longest wait between reconnect attempts.
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Room for the fixed header and topic on top of the payload limit.
const PACKET_OVERHEAD: usize = 64 * 1024;

/// A reconnecting MQTT 3.1.1 client for one named broker.
///
/// A background task drives rumqttc's event loop. It tracks whether the broker
/// is connected (so calls fail fast with `unavailable` while it is not),
/// matches acknowledgements to the one request in flight, hands incoming
/// messages to waiting receivers, and re-subscribes after a reconnect.
pub struct MqttConnection {
    name: String,
    client: AsyncClient,
    shared: Arc<Shared>,
    /// One publish/subscribe at a time, so an acknowledgement can be matched to
    /// its request by packet id without guessing.
    in_flight: tokio::sync::Mutex<()>,
    ack_timeout: Duration,
    max_payload: usize,
    task: JoinHandle<()>,
    config: MqttConfig,
    /// The shared-subscription group, for the companion connection that
    /// carries shared subscriptions (`$share/GROUP/FILTER`).
    share: Option<String>,
    /// That companion, made on first use: a client of its own, so that its
    /// deliveries never mix with this client's own subscriptions.
    companion: std::sync::OnceLock<Arc<MqttConnection>>,
}

#[derive(Default)]
struct Shared {
    state: Mutex<State>,
    next_receiver: AtomicU64,
}

#[derive(Default)]
struct State {
    connected: bool,
    last_error: String,
    /// When `last_error` happened; `None` until the first real failure.
    last_error_at: Option<i64>,
    pending: Option<Pending>,
    receivers: HashMap<u64, (TopicFilter, mpsc::Sender<Message>)>,
    /// Active subscriptions and how many receivers use each.
    subscriptions: HashMap<String, usize>,
}

struct Pending {
    kind: PendingKind,
    /// The packet id, once rumqttc has sent the packet.
    pkid: Option<u16>,
    done: oneshot::Sender<Result<(), MqttError>>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum PendingKind {
    Publish(QoS),
    Subscribe,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        // The state holds no invariant a panic could break half-way.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl MqttConnection {
    /// Start connecting to the broker in the background. Must be called inside a tokio runtime.
    pub fn connect(name: &str, config: &MqttConfig) -> Result<Self, ConfigError> {
        Self::connect_as(name, config, None)
    }

    fn connect_as(
        name: &str,
        config: &MqttConfig,
        share: Option<String>,
    ) -> Result<Self, ConfigError> {
        let error = |reason: String| ConfigError {
            kind: "mqtt",
            name: name.to_string(),
            reason,
        };
        let (host, port) = config.endpoint().map_err(error)?;
        let addr = format!("{host}:{port}");
        let mut client_id = config
            .client_id
            .clone()
            .unwrap_or_else(|| default_client_id(name));
        if share.is_some() {
            client_id.push_str("-shared");
        }
        let mut options = MqttOptions::new(client_id, host, port);
        options.set_keep_alive(config.keep_alive.max(Duration::from_secs(1)));
        options.set_clean_session(true);
        let packet = config.max_payload.saturating_add(PACKET_OVERHEAD);
        options.set_max_packet_size(packet, packet);
        if let Some(user) = &config.username {
            options.set_credentials(user, config.password.clone().unwrap_or_default());
        }
        let (client, eventloop) = AsyncClient::new(options, 64);
        let shared = Arc::new(Shared::default());
        shared.lock().last_error = "not connected yet".into();
        let task = tokio::spawn(drive(
            name.to_string(),
            addr,
            eventloop,
            client.clone(),
            shared.clone(),
        ));
        Ok(Self {
            name: name.to_string(),
            client,
            shared,
            in_flight: tokio::sync::Mutex::new(()),
            ack_timeout: config.ack_timeout,
            max_payload: config.max_payload,
            task,
            config: config.clone(),
            share,
            companion: std::sync::OnceLock::new(),
        })
    }

    /// The filter as the broker is asked for it: within the shared group,
    /// on a companion connection.
    fn broker_filter(&self, filter: &TopicFilter) -> String {
        match &self.share {
            Some(group) => format!("$share/{group}/{filter}"),
            None => filter.to_string(),
        }
    }

    /// The companion connection for shared subscriptions in `group`.
    fn companion(&self, group: &str) -> Result<Arc<MqttConnection>, MqttError> {
        if let Some(c) = self.companion.get() {
            return Ok(c.clone());
        }
        let made = Self::connect_as(&self.name, &self.config, Some(group.to_string()))
            .map_err(|e| MqttError::Unavailable(e.to_string()))?;
        Ok(self.companion.get_or_init(|| Arc::new(made)).clone())
    }

    /// Whether the broker is connected right now.
    pub fn is_connected(&self) -> bool {
        self.shared.lock().connected
    }

    /// Connected or offline, with the last failure to reach the broker
    /// (kept after a reconnect). Before the first attempt has ended it is
    /// offline with no error.
    pub fn health(&self) -> Health {
        let state = self.shared.lock();
        let mut health = Health::new(if state.connected {
            HealthState::Connected
        } else {
            HealthState::Offline
        });
        if let Some(at) = state.last_error_at {
            health.last_error = Some(state.last_error.clone());
            health.last_error_at = Some(at);
        }
        health
    }

    /// Wait until the broker is connected, up to `timeout`.
    pub async fn wait_connected(&self, timeout: Duration) -> bool {
        let deadline = tokio::time::Instant::now() + timeout;
        while tokio::time::Instant::now() < deadline {
            if self.is_connected() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        self.is_connected()
    }

    fn unavailable(&self) -> MqttError {
        let state = self.shared.lock();
        MqttError::Unavailable(format!(
            "not connected to broker `{}` ({})",
            self.name, state.last_error
        ))
    }

    /// Send one request and wait for its acknowledgement.
    async fn acknowledged(
        &self,
        kind: PendingKind,
        send: impl std::future::Future<Output = Result<(), rumqttc::ClientError>>,
    ) -> Result<(), MqttError> {
        let _one_at_a_time = self.in_flight.lock().await;
        let (done, ack) = oneshot::channel();
        {
            let mut state = self.shared.lock();
            if !state.connected {
                drop(state);
                return Err(self.unavailable());
            }
            state.pending = Some(Pending {
                kind,
                pkid: None,
                done,
            });
        }
        let result = async {
            send.await
                .map_err(|e| MqttError::Unavailable(e.to_string()))?;
            match tokio::time::timeout(self.ack_timeout, ack).await {
                Ok(Ok(result)) => result,
                Ok(Err(_)) => Err(self.unavailable()),
                Err(_) => Err(MqttError::Timeout),
            }
        }
        .await;
        self.shared.lock().pending = None;
        result
    }

    async fn publish_inner(
        &self,
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    ) -> Result<(), MqttError> {
        baton_grant::mqtt::validate_topic(&topic)
            .map_err(|e| MqttError::InvalidArgument(format!("topic `{topic}`: {e}")))?;
        if payload.len() > self.max_payload {
            return Err(MqttError::InvalidArgument(format!(
                "payload of {} bytes is over the {} byte limit of connection `{}`",
                payload.len(),
                self.max_payload,
                self.name
            )));
        }
        let send = self.client.publish(topic, to_rumqttc(qos), retain, payload);
        self.acknowledged(PendingKind::Publish(qos), send).await
    }

    /// Subscribe to `filter` until the returned [`Watch`] is dropped. The
    /// subscription is acknowledged by the broker before this returns, and it
    /// is restored after a reconnect.
    pub async fn watch(&self, filter: TopicFilter) -> Result<Watch<'_>, MqttError> {
        let (tx, rx) = mpsc::channel(64);
        let id = self.shared.next_receiver.fetch_add(1, Ordering::Relaxed);
        let first = {
            let mut state = self.shared.lock();
            if !state.connected {
                drop(state);
                return Err(self.unavailable());
            }
            state.receivers.insert(id, (filter.clone(), tx));
            let users = state
                .subscriptions
                .entry(self.broker_filter(&filter))
                .or_default();
            *users += 1;
            *users == 1
        };
        // Unregisters (and unsubscribes) however the watch ends, even if the task is cancelled.
        let guard = ReceiverGuard {
            connection: self,
            id,
            filter: self.broker_filter(&filter),
        };
        if first {
            let send = self
                .client
                .subscribe(self.broker_filter(&filter), rumqttc::QoS::AtLeastOnce);
            self.acknowledged(PendingKind::Subscribe, send).await?;
        }
        Ok(Watch { rx, _guard: guard })
    }

    async fn receive_inner(
        &self,
        filter: TopicFilter,
        timeout: Duration,
    ) -> Result<Option<Message>, MqttError> {
        let mut watch = self.watch(filter).await?;
        match tokio::time::timeout(timeout, watch.rx.recv()).await {
            Ok(Some(message)) => Ok(Some(message)),
            Ok(None) => Err(self.unavailable()),
            Err(_) => Ok(None),
        }
    }
}

/// A standing subscription: messages matching its filter, until dropped.
pub struct Watch<'a> {
    rx: mpsc::Receiver<Message>,
    _guard: ReceiverGuard<'a>,
}

impl Watch<'_> {
    /// The next message, or `None` if the connection is gone.
    pub async fn next(&mut self) -> Option<Message> {
        self.rx.recv().await
    }
}

struct ReceiverGuard<'a> {
    connection: &'a MqttConnection,
    id: u64,
    filter: String,
}

impl Drop for ReceiverGuard<'_> {
    fn drop(&mut self) {
        let mut state = self.connection.shared.lock();
        state.receivers.remove(&self.id);
        if let Some(users) = state.subscriptions.get_mut(&self.filter) {
            *users -= 1;
            if *users == 0 {
                state.subscriptions.remove(&self.filter);
                // Best effort: a failed unsubscribe only leaves messages that nobody reads.
                let _ = self.connection.client.try_unsubscribe(self.filter.clone());
            }
        }
    }
}

impl Drop for MqttConnection {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl MqttClient for MqttConnection {
    fn is_connected(&self) -> bool {
        MqttConnection::is_connected(self)
    }

    fn health(&self) -> Health {
        MqttConnection::health(self)
    }

    fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        qos: QoS,
        retain: bool,
    ) -> BoxFuture<'_, Result<(), MqttError>> {
        Box::pin(self.publish_inner(topic, payload, qos, retain))
    }

    fn receive(
        &self,
        filter: TopicFilter,
        timeout: Duration,
    ) -> BoxFuture<'_, Result<Option<Message>, MqttError>> {
        Box::pin(self.receive_inner(filter, timeout))
    }

    fn subscribe(
        self: Arc<Self>,
        filter: TopicFilter,
    ) -> BoxFuture<'static, Result<mpsc::Receiver<Message>, MqttError>> {
        Box::pin(async move {
            let (ready_tx, ready_rx) = tokio::sync::oneshot::channel();
            let (tx, rx) = mpsc::channel(64);
            tokio::spawn(async move {
                let mut watch = match self.watch(filter).await {
                    Ok(watch) => watch,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e));
                        return;
                    }
                };
                let _ = ready_tx.send(Ok(()));
                loop {
                    tokio::select! {
                        message = watch.next() => match message {
                            Some(m) => if tx.send(m).await.is_err() { return },
                            None => return,
                        },
                        _ = tx.closed() => return,
                    }
                }
            });
            ready_rx.await.map_err(|_| self_gone())??;
            Ok(rx)
        })
    }

    fn subscribe_shared(
        self: Arc<Self>,
        group: String,
        filter: TopicFilter,
    ) -> BoxFuture<'static, Result<mpsc::Receiver<Message>, MqttError>> {
        Box::pin(async move {
            let companion = self.companion(&group)?;
            companion.wait_connected(self.ack_timeout).await;
            companion.subscribe(filter).await
        })
    }
}

fn self_gone() -> MqttError {
    MqttError::Unavailable("the subscription task ended".into())
}

/// Unique per connection: a broker disconnects the older of two clients with one id.
fn default_client_id(name: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("baton-{name}-{}-{n}", std::process::id())
}

fn to_rumqttc(qos: QoS) -> rumqttc::QoS {
    match qos {
        QoS::AtMostOnce => rumqttc::QoS::AtMostOnce,
        QoS::AtLeastOnce => rumqttc::QoS::AtLeastOnce,
        QoS::ExactlyOnce => rumqttc::QoS::ExactlyOnce,
    }
}

/// Drive the event loop forever, reconnecting with back-off. `addr` is the
/// broker's `host:port`, named in connection errors.
async fn drive(
    name: String,
    addr: String,
    mut eventloop: EventLoop,
    client: AsyncClient,
    shared: Arc<Shared>,
) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match eventloop.poll().await {
            Ok(event) => {
                if let Event::Incoming(Packet::ConnAck(_)) = event {
                    tracing::info!(connection = %name, "mqtt connected");
                    backoff = Duration::from_millis(100);
                    let filters: Vec<String> = {
                        let mut state = shared.lock();
                        state.connected = true;
                        state.subscriptions.keys().cloned().collect()
                    };
                    // A clean session forgets subscriptions; restore those still in use.
                    if !filters.is_empty() {
                        let topics = filters
                            .into_iter()
                            .map(|f| rumqttc::SubscribeFilter::new(f, rumqttc::QoS::AtLeastOnce));
                        let _ = client.try_subscribe_many(topics);
                    }
                }
                handle(&shared, event);
            }
            Err(error) => {
                lost(&name, &shared, format!("{addr}: {error}"));
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

fn lost(name: &str, shared: &Shared, message: String) {
    let mut state = shared.lock();
    if state.connected {
        tracing::warn!(connection = %name, error = %message, "mqtt connection lost");
    }
    state.connected = false;
    state.last_error = message.clone();
    state.last_error_at = Some(now_ms());
    if let Some(pending) = state.pending.take() {
        let _ = pending.done.send(Err(MqttError::Unavailable(message)));
    }
}

fn handle(shared: &Shared, event: Event) {
    let mut state = shared.lock();
    match event {
        Event::Outgoing(Outgoing::Publish(pkid)) => {
            if let Some(p) = state.pending.as_mut().filter(|p| p.pkid.is_none()) {
                if p.kind == PendingKind::Publish(QoS::AtMostOnce) {
                    finish(&mut state, Ok(()));
                } else if matches!(p.kind, PendingKind::Publish(_)) {
                    p.pkid = Some(pkid);
                }
            }
        }
        Event::Outgoing(Outgoing::Subscribe(pkid)) => {
            if let Some(p) = state.pending.as_mut()
                && p.kind == PendingKind::Subscribe
                && p.pkid.is_none()
            {
                p.pkid = Some(pkid);
            }
        }
        Event::Incoming(Packet::PubAck(ack)) => acked(
            &mut state,
            ack.pkid,
            PendingKind::Publish(QoS::AtLeastOnce),
            Ok(()),
        ),
        Event::Incoming(Packet::PubComp(ack)) => acked(
            &mut state,
            ack.pkid,
            PendingKind::Publish(QoS::ExactlyOnce),
            Ok(()),
        ),
        Event::Incoming(Packet::SubAck(ack)) => {
            let result = if ack.return_codes.contains(&SubscribeReasonCode::Failure) {
                Err(MqttError::InvalidArgument(
                    "the broker refused the subscription".into(),
                ))
            } else {
                Ok(())
            };
            acked(&mut state, ack.pkid, PendingKind::Subscribe, result)
        }
        Event::Incoming(Packet::Publish(publish)) => {
            let topic = publish.topic.clone();
            for (filter, tx) in state.receivers.values() {
                if filter.matches(&topic) {
                    // A receiver that is not keeping up loses messages rather than stalling the connection.
                    let _ = tx.try_send(Message {
                        topic: topic.clone(),
                        payload: publish.payload.to_vec(),
                        retain: publish.retain,
                    });
                }
            }
        }
        _ => {}
    }
}

fn acked(state: &mut State, pkid: u16, kind: PendingKind, result: Result<(), MqttError>) {
    if state
        .pending
        .as_ref()
        .is_some_and(|p| p.kind == kind && p.pkid == Some(pkid))
    {
        finish(state, result);
    }
}

fn finish(state: &mut State, result: Result<(), MqttError>) {
    if let Some(pending) = state.pending.take() {
        let _ = pending.done.send(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn health_of_a_closed_port_is_offline_naming_the_broker() {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = MqttConfig::new(format!("mqtt://127.0.0.1:{port}"));
        let connection = MqttConnection::connect("closed", &config).unwrap();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        while connection.health().last_error.is_none() {
            assert!(tokio::time::Instant::now() < deadline, "no error recorded");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let health = connection.health();
        assert_eq!(health.state, HealthState::Offline);
        let error = health.last_error.unwrap();
        assert!(error.contains(&format!("127.0.0.1:{port}")), "{error}");
        assert!(health.last_error_at.unwrap() > 1_700_000_000_000);
    }

    #[tokio::test]
    async fn health_against_a_broker_is_connected() {
        let url = baton_sim::EmbeddedBroker::test_url().await.unwrap();
        let connection = MqttConnection::connect("plant", &MqttConfig::new(url)).unwrap();
        assert!(connection.wait_connected(Duration::from_secs(10)).await);
        let health = MqttClient::health(&connection);
        assert_eq!(health.state, HealthState::Connected);
        assert_eq!(health.last_error, None);
    }
}
