//! The Modbus TCP connector against real servers: the simulated oven
//! (tokio-modbus), a third-party server (pymodbus), a silent peer and nothing at all.
//! Without pymodbus the interoperability test prints one `skipped:` line, and
//! under `CI=true` it fails.
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use baton_connectors::config::PlcConfig;
use baton_connectors::plc::{Area, ModbusDevice, PlcDevice, PlcError, PlcRequest, PlcResponse};
use baton_sim::suite::{optional_suite, python_module};
use baton_sim::{Oven, SimulatedPlc};

fn device(url: String, timeout: Duration) -> ModbusDevice {
    let mut config = PlcConfig::new(url);
    config.timeout = timeout;
    config.connect_timeout = Duration::from_secs(1);
    ModbusDevice::new("test", config)
}

fn read(area: Area, address: u16, count: u16) -> PlcRequest {
    PlcRequest::Read {
        area,
        address,
        count,
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[tokio::test]
async fn concurrent_requests_are_serialised_and_all_answered() {
    let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
        .await
        .unwrap();
    let device = Arc::new(device(plc.url(), Duration::from_secs(2)));
    let tasks: Vec<_> = (0..20u16)
        .map(|i| {
            let device = device.clone();
            tokio::spawn(async move {
                let address = 100 + i;
                let written = device
                    .call(PlcRequest::WriteRegisters {
                        address,
                        values: vec![i * 7],
                    })
                    .await;
                assert_eq!(written, Ok(PlcResponse::Written));
                device.call(read(Area::Holding, address, 1)).await
            })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        assert_eq!(
            task.await.unwrap(),
            Ok(PlcResponse::Registers(vec![i as u16 * 7]))
        );
    }
    assert_eq!(plc.oven().memory().holding[119], 19 * 7);
}

#[tokio::test]
async fn a_silent_device_times_out_instead_of_hanging() {
    // Accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let held = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((stream, _)) = listener.accept().await {
            open.push(stream);
        }
    });
    let device = device(format!("tcp://{addr}"), Duration::from_millis(300));
    let started = Instant::now();
    assert_eq!(
        device.call(read(Area::Holding, 0, 1)).await,
        Err(PlcError::Timeout)
    );
    let took = started.elapsed();
    assert!(
        took >= Duration::from_millis(250) && took < Duration::from_secs(2),
        "{took:?}"
    );
    held.abort();
}

#[tokio::test]
async fn an_offline_device_fails_fast_during_back_off() {
    let device = device(
        format!("tcp://127.0.0.1:{}", free_port()),
        Duration::from_secs(1),
    );
    let first = device.call(read(Area::Coil, 0, 1)).await;
    assert!(
        matches!(&first, Err(PlcError::Unavailable(m)) if m.contains("cannot connect")),
        "{first:?}"
    );
    let started = Instant::now();
    let second = device.call(read(Area::Coil, 0, 1)).await;
    assert!(
        matches!(&second, Err(PlcError::Unavailable(m)) if m.contains("next reconnect attempt in")),
        "{second:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(250),
        "back-off should answer at once"
    );
}

#[tokio::test]
async fn protocol_limits_are_refused_before_sending() {
    let device = device("tcp://127.0.0.1:1".into(), Duration::from_secs(1));
    let result = device.call(read(Area::Holding, 0, 126)).await;
    assert!(
        matches!(result, Err(PlcError::InvalidArgument(_))),
        "{result:?}"
    );
}

#[tokio::test]
async fn interoperates_with_a_third_party_server() {
    if !python_module("pymodbus") {
        optional_suite(
            "Modbus interoperability suite",
            "python3 with pymodbus is not installed (pip install pymodbus==3.8.6)",
        );
        return;
    }
    let port = free_port();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/pymodbus_server.py");
    let mut server = Command::new("python3")
        .args([script, &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "pymodbus did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ours = device(format!("tcp://127.0.0.1:{port}"), Duration::from_secs(2));

    // We write; pymodbus's own client reads it back.
    assert_eq!(
        ours.call(PlcRequest::WriteRegisters {
            address: 5,
            values: vec![99, 98]
        })
        .await,
        Ok(PlcResponse::Written)
    );
    assert_eq!(
        ours.call(PlcRequest::WriteCoils {
            address: 3,
            values: vec![true, false, true]
        })
        .await,
        Ok(PlcResponse::Written)
    );
    let theirs = Command::new("python3")
        .args([
            "-c",
            &format!(
                "from pymodbus.client import ModbusTcpClient\n\
                 c = ModbusTcpClient('127.0.0.1', port={port}); c.connect()\n\
                 print(c.read_holding_registers(5, count=2).registers, c.read_coils(3, count=3).bits[:3])\n\
                 c.write_registers(20, [4242])"
            ),
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&theirs.stdout).trim(),
        "[99, 98] [True, False, True]"
    );

    // pymodbus writes; we read it back.
    assert_eq!(
        ours.call(read(Area::Holding, 20, 1)).await,
        Ok(PlcResponse::Registers(vec![4242]))
    );
    assert_eq!(
        ours.call(read(Area::Input, 0, 2)).await,
        Ok(PlcResponse::Registers(vec![7, 7]))
    );
    let _ = server.kill();
    let _ = server.wait();
}

#[tokio::test]
async fn health_is_idle_then_connected_then_offline_naming_the_address() {
    use baton_connectors::{HealthState, PlcDevice as _};
    let plc = SimulatedPlc::start(([127, 0, 0, 1], 0).into(), Oven::new(), None)
        .await
        .unwrap();
    let addr = plc.addr();
    let device = device(plc.url(), Duration::from_secs(1));
    let idle = device.health();
    assert_eq!(idle.state, HealthState::Idle);
    assert_eq!(idle.last_error, None);

    assert!(device.call(read(Area::Holding, 10, 1)).await.is_ok());
    let up = device.health();
    assert_eq!(up.state, HealthState::Connected, "{up:?}");
    assert_eq!(up.last_error, None);

    plc.stop();
    // The open connection breaks, then reconnecting is refused.
    let deadline = Instant::now() + Duration::from_secs(10);
    while device.health().state == HealthState::Connected {
        assert!(Instant::now() < deadline, "still connected after the stop");
        let _ = device.call(read(Area::Holding, 10, 1)).await;
    }
    let down = device.health();
    assert_eq!(down.state, HealthState::Offline);
    let error = down.last_error.unwrap();
    assert!(error.contains(&addr.to_string()), "{error}");
    assert!(down.last_error_at.unwrap() > 1_700_000_000_000);
}

#[tokio::test]
async fn health_of_a_closed_port_is_offline_with_the_refusal() {
    use baton_connectors::HealthState;
    let port = free_port();
    let device = device(format!("tcp://127.0.0.1:{port}"), Duration::from_secs(1));
    assert!(device.call(read(Area::Coil, 0, 1)).await.is_err());
    let health = device.health();
    assert_eq!(health.state, HealthState::Offline);
    let error = health.last_error.unwrap();
    assert!(
        error.contains(&format!("cannot connect to 127.0.0.1:{port}")),
        "{error}"
    );
    // During the back-off the device is not retried, and its health stays as it was.
    let at = health.last_error_at;
    let _ = device.call(read(Area::Coil, 0, 1)).await;
    assert_eq!(device.health().last_error_at, at);
}
