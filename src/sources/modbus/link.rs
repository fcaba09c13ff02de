//! Links: how requests reach a device. The scheduler talks to a [`Link`] made by a
//! [`Connector`]; the real ones wrap tokio-modbus over TCP, RTU on a serial port, or RTU
//! frames over TCP. Tests substitute their own.

use crate::config::{ModbusDeviceConfig, Parity, RegisterKind, SerialConfig, Transport};
use std::future::Future;
use std::time::Duration;
use tokio_modbus::client::{Context, Reader};
use tokio_modbus::prelude::SlaveContext;
use tokio_modbus::Slave;

/// Why a read produced no registers.
#[derive(Debug, Clone, PartialEq)]
pub enum ReadError {
    /// The device answered with a Modbus exception code: the link is fine.
    Exception(u8),
    /// Transport or framing failure (including a mismatched transaction id or unit):
    /// the link must be re-opened.
    Link(String),
}

/// An open connection that can read from any unit behind it.
pub trait Link: Send {
    fn read(
        &mut self,
        unit: u8,
        kind: RegisterKind,
        start: u16,
        count: u16,
    ) -> impl Future<Output = Result<Vec<u16>, ReadError>> + Send;

    /// Write coils (values 0/1; functions 05/15) or holding registers (06/16) from `start`.
    fn write(
        &mut self,
        unit: u8,
        kind: RegisterKind,
        start: u16,
        values: &[u16],
    ) -> impl Future<Output = Result<(), ReadError>> + Send;
}

/// Opens links.
pub trait Connector: Send + 'static {
    type Link: Link;
    fn connect(&mut self) -> impl Future<Output = Result<Self::Link, String>> + Send;
    /// Human-readable endpoint, e.g. `modbus-tcp://10.0.0.5:502`.
    fn endpoint(&self) -> String;
    /// Silence required between frames (RTU), none for TCP.
    fn inter_frame_delay(&self) -> Duration;
}

/// tokio-modbus behind the [`Link`] trait.
pub struct ModbusLink(Context);

impl Link for ModbusLink {
    async fn write(&mut self, unit: u8, kind: RegisterKind, start: u16, values: &[u16]) -> Result<(), ReadError> {
        use tokio_modbus::client::Writer;
        self.0.set_slave(Slave(unit));
        let result = match (kind, values) {
            (RegisterKind::Coil, [v]) => self.0.write_single_coil(start, *v != 0).await,
            (RegisterKind::Coil, vs) => {
                let bits: Vec<bool> = vs.iter().map(|v| *v != 0).collect();
                self.0.write_multiple_coils(start, &bits).await
            }
            (RegisterKind::Holding, [v]) => self.0.write_single_register(start, *v).await,
            (RegisterKind::Holding, vs) => self.0.write_multiple_registers(start, vs).await,
            (other, _) => return Err(ReadError::Link(format!("{} cannot be written", other.as_str()))),
        };
        match result {
            Err(e) => Err(ReadError::Link(e.to_string())),
            Ok(Err(code)) => Err(ReadError::Exception(u8::from(code))),
            Ok(Ok(())) => Ok(()),
        }
    }

    async fn read(&mut self, unit: u8, kind: RegisterKind, start: u16, count: u16) -> Result<Vec<u16>, ReadError> {
        self.0.set_slave(Slave(unit));
        let bits = |r: Result<Vec<bool>, _>| r.map(|b: Vec<bool>| b.into_iter().map(u16::from).collect());
        let result = match kind {
            RegisterKind::Holding => self.0.read_holding_registers(start, count).await,
            RegisterKind::Input => self.0.read_input_registers(start, count).await,
            RegisterKind::Coil => self.0.read_coils(start, count).await.map(bits),
            RegisterKind::DiscreteInput => self.0.read_discrete_inputs(start, count).await.map(bits),
        };
        match result {
            Err(e) => Err(ReadError::Link(e.to_string())),
            Ok(Err(code)) => Err(ReadError::Exception(u8::from(code))),
            Ok(Ok(regs)) if regs.len() < count as usize => {
                Err(ReadError::Link(format!("short response: {} values for a request of {count}", regs.len())))
            }
            Ok(Ok(mut regs)) => {
                regs.truncate(count as usize); // coil responses are padded to whole bytes
                Ok(regs)
            }
        }
    }
}

/// The real transports.
#[derive(Debug, Clone)]
pub enum RealConnector {
    Tcp { host: String, port: u16, timeout: Duration },
    RtuOverTcp { host: String, port: u16, timeout: Duration },
    Rtu { serial: SerialConfig },
}

impl RealConnector {
    pub fn of(device: &ModbusDeviceConfig) -> Self {
        let timeout = Duration::from_millis(device.timeout_ms);
        match device.transport {
            Transport::Tcp => RealConnector::Tcp { host: device.host.clone(), port: device.port, timeout },
            Transport::RtuOverTcp => {
                RealConnector::RtuOverTcp { host: device.host.clone(), port: device.port, timeout }
            }
            Transport::Rtu => RealConnector::Rtu { serial: device.serial.clone().expect("validated: rtu has serial") },
        }
    }
}

async fn tcp_stream(host: &str, port: u16, timeout: Duration) -> Result<tokio::net::TcpStream, String> {
    let fut = async {
        let addr = tokio::net::lookup_host((host, port))
            .await
            .map_err(|e| format!("cannot resolve {host}: {e}"))?
            .next()
            .ok_or_else(|| format!("{host} resolves to no address"))?;
        let stream = tokio::net::TcpStream::connect(addr).await.map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_nodelay(true).map_err(|e| e.to_string())?;
        Ok(stream)
    };
    tokio::time::timeout(timeout, fut)
        .await
        .map_err(|_| format!("connect timed out after {} ms", timeout.as_millis()))?
}

impl Connector for RealConnector {
    type Link = ModbusLink;

    async fn connect(&mut self) -> Result<ModbusLink, String> {
        match self {
            RealConnector::Tcp { host, port, timeout } => {
                let stream = tcp_stream(host, *port, *timeout).await?;
                Ok(ModbusLink(tokio_modbus::client::tcp::attach(stream)))
            }
            RealConnector::RtuOverTcp { host, port, timeout } => {
                let stream = tcp_stream(host, *port, *timeout).await?;
                Ok(ModbusLink(tokio_modbus::client::rtu::attach(stream)))
            }
            RealConnector::Rtu { serial } => {
                use tokio_serial::SerialPortBuilderExt;
                let parity = match serial.parity {
                    Parity::None => tokio_serial::Parity::None,
                    Parity::Even => tokio_serial::Parity::Even,
                    Parity::Odd => tokio_serial::Parity::Odd,
                };
                let data_bits =
                    if serial.data_bits == 7 { tokio_serial::DataBits::Seven } else { tokio_serial::DataBits::Eight };
                let stop_bits =
                    if serial.stop_bits == 2 { tokio_serial::StopBits::Two } else { tokio_serial::StopBits::One };
                let port = tokio_serial::new(&serial.path, serial.baud)
                    .parity(parity)
                    .data_bits(data_bits)
                    .stop_bits(stop_bits)
                    .open_native_async()
                    .map_err(|e| format!("cannot open serial port {}: {e}", serial.path))?;
                Ok(ModbusLink(tokio_modbus::client::rtu::attach(port)))
            }
        }
    }

    fn endpoint(&self) -> String {
        match self {
            RealConnector::Tcp { host, port, .. } => format!("modbus-tcp://{host}:{port}"),
            RealConnector::RtuOverTcp { host, port, .. } => format!("modbus-rtu-over-tcp://{host}:{port}"),
            RealConnector::Rtu { serial } => format!(
                "modbus-rtu://{}?baud={}&parity={:?}&data_bits={}&stop_bits={}",
                serial.path, serial.baud, serial.parity, serial.data_bits, serial.stop_bits
            )
            .to_lowercase(),
        }
    }

    fn inter_frame_delay(&self) -> Duration {
        match self {
            RealConnector::Rtu { serial } => serial.inter_frame_delay(),
            _ => Duration::ZERO,
        }
    }
}
