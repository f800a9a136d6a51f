//! A container's resource use, sampled from the engine's stats endpoint (one-shot, as
//! `docker stats --no-stream`): CPU, memory, network, block I/O, processes. CPU % needs two
//! samples ([`Sample::cpu_percent_since`]); a [`Sampler`] keeps the previous one per
//! container, so a screen that samples every few seconds gets a percentage from its second
//! tick on.

use std::collections::HashMap;
use std::time::Duration;

use bollard::models::ContainerStatsResponse;
use bollard::query_parameters::StatsOptionsBuilder;
use futures_util::StreamExt;

use super::Engine;

/// How long one sample may take (the engine takes ~0.5 s a container when busy).
pub const SAMPLE_TIMEOUT: Duration = Duration::from_secs(3);

const MIB: f64 = 1024.0 * 1024.0;

#[derive(Debug, thiserror::Error)]
pub enum StatsError {
    #[error("no stats from container {id} within {}s", SAMPLE_TIMEOUT.as_secs())]
    Timeout { id: String },
    #[error("the engine sent no stats for container {id} (it is gone, or not running)")]
    Ended { id: String },
    #[error("the engine's stats for container {id} have no CPU counters (it is not running)")]
    NoCpu { id: String },
    #[error("cannot read the stats of container {id}: {source}")]
    Engine {
        id: String,
        source: bollard::errors::Error,
    },
}

/// One sample's counters (cumulative since the container started, except memory and pids).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    /// CPU time the container used, ns.
    pub cpu_ns: u64,
    /// CPU time the whole machine used, ns (the denominator of CPU %).
    pub system_cpu_ns: u64,
    pub online_cpus: u32,
    /// Memory in use, bytes.
    pub memory_bytes: u64,
    /// The container's memory limit (the machine's memory when it has none), bytes.
    pub memory_limit_bytes: Option<u64>,
    /// Received and sent over every network, bytes.
    pub net_rx_bytes: u64,
    pub net_tx_bytes: u64,
    /// Read from and written to block devices, bytes.
    pub block_read_bytes: u64,
    pub block_write_bytes: u64,
    /// Processes (threads) in the container.
    pub pids: Option<u64>,
}

impl Sample {
    /// The sample in the engine's answer; `None` without CPU counters (a stopped container).
    pub fn from_response(s: &ContainerStatsResponse) -> Option<Sample> {
        let cpu = s.cpu_stats.as_ref()?;
        let (net_rx_bytes, net_tx_bytes) = s
            .networks
            .iter()
            .flat_map(|n| n.values())
            .fold((0, 0), |(rx, tx), n| {
                (rx + n.rx_bytes.unwrap_or(0), tx + n.tx_bytes.unwrap_or(0))
            });
        let block = |op: &str| -> u64 {
            s.blkio_stats
                .as_ref()
                .and_then(|b| b.io_service_bytes_recursive.as_ref())
                .into_iter()
                .flatten()
                .filter(|e| e.op.as_deref().is_some_and(|o| o.eq_ignore_ascii_case(op)))
                .filter_map(|e| e.value)
                .sum()
        };
        let memory = s.memory_stats.as_ref();
        Some(Sample {
            cpu_ns: cpu.cpu_usage.as_ref()?.total_usage?,
            system_cpu_ns: cpu.system_cpu_usage?,
            online_cpus: cpu.online_cpus.unwrap_or(1).max(1),
            memory_bytes: memory.and_then(|m| m.usage).unwrap_or(0),
            memory_limit_bytes: memory.and_then(|m| m.limit),
            net_rx_bytes,
            net_tx_bytes,
            block_read_bytes: block("read"),
            block_write_bytes: block("write"),
            pids: s.pids_stats.as_ref().and_then(|p| p.current),
        })
    }

    /// CPU % over the time since `prev` (100 % is one CPU busy, as `docker stats`); 0 when
    /// the counters did not move forward.
    pub fn cpu_percent_since(&self, prev: &Sample) -> f64 {
        if self.system_cpu_ns > prev.system_cpu_ns && self.cpu_ns >= prev.cpu_ns {
            (self.cpu_ns - prev.cpu_ns) as f64 / (self.system_cpu_ns - prev.system_cpu_ns) as f64
                * f64::from(self.online_cpus)
                * 100.0
        } else {
            0.0
        }
    }

    pub fn memory_mib(&self) -> f64 {
        self.memory_bytes as f64 / MIB
    }
}

/// Samples container `id` once.
pub async fn sample(engine: &Engine, id: &str) -> Result<Sample, StatsError> {
    let opts = StatsOptionsBuilder::default()
        .stream(false)
        .one_shot(true)
        .build();
    let mut stream = engine.docker.stats(id, Some(opts));
    let next = tokio::time::timeout(SAMPLE_TIMEOUT, stream.next())
        .await
        .map_err(|_| StatsError::Timeout { id: id.into() })?;
    let response = next
        .ok_or_else(|| StatsError::Ended { id: id.into() })?
        .map_err(|source| StatsError::Engine {
            id: id.into(),
            source,
        })?;
    Sample::from_response(&response).ok_or_else(|| StatsError::NoCpu { id: id.into() })
}

/// What a screen shows of one container.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Usage {
    /// Since the previous sample; 0 on the first.
    pub cpu_percent: f64,
    pub memory_mib: f64,
    /// The whole sample, for the columns a screen adds.
    pub sample: Sample,
}

/// Samples containers again and again, keeping each one's previous sample for CPU %.
#[derive(Debug, Default)]
pub struct Sampler {
    prev: HashMap<String, Sample>,
}

impl Sampler {
    pub fn new() -> Sampler {
        Sampler::default()
    }

    /// Samples `ids` all at once; a container that gives no sample this time (stopped, slow)
    /// is left out of the answer. Containers not in `ids` are forgotten.
    pub async fn sample(&mut self, engine: &Engine, ids: &[String]) -> HashMap<String, Usage> {
        self.prev.retain(|id, _| ids.contains(id));
        let samples = futures_util::future::join_all(ids.iter().map(|id| sample(engine, id))).await;
        let mut out = HashMap::new();
        for (id, s) in ids.iter().zip(samples) {
            match s {
                Ok(s) => {
                    out.insert(id.clone(), self.usage(id, s));
                }
                Err(e) => tracing::debug!("{e}"),
            }
        }
        out
    }

    /// The usage `s` shows against the previous sample of `id`, which it then replaces.
    pub fn usage(&mut self, id: &str, s: Sample) -> Usage {
        let cpu_percent = self
            .prev
            .get(id)
            .map_or(0.0, |prev| s.cpu_percent_since(prev));
        let usage = Usage {
            cpu_percent,
            memory_mib: s.memory_mib(),
            sample: s.clone(),
        };
        self.prev.insert(id.to_string(), s);
        usage
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerBlkioStatEntry, ContainerBlkioStats, ContainerCpuStats, ContainerCpuUsage,
        ContainerMemoryStats, ContainerNetworkStats, ContainerPidsStats,
    };

    fn response(cpu: u64, system: u64) -> ContainerStatsResponse {
        let net = |rx, tx| ContainerNetworkStats {
            rx_bytes: Some(rx),
            tx_bytes: Some(tx),
            ..Default::default()
        };
        let io = |op: &str, value| ContainerBlkioStatEntry {
            op: Some(op.into()),
            value: Some(value),
            ..Default::default()
        };
        ContainerStatsResponse {
            cpu_stats: Some(ContainerCpuStats {
                cpu_usage: Some(ContainerCpuUsage {
                    total_usage: Some(cpu),
                    ..Default::default()
                }),
                system_cpu_usage: Some(system),
                online_cpus: Some(4),
                ..Default::default()
            }),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(64 * 1024 * 1024),
                limit: Some(1 << 30),
                ..Default::default()
            }),
            networks: Some(HashMap::from([
                ("eth0".into(), net(100, 10)),
                ("eth1".into(), net(5, 1)),
            ])),
            blkio_stats: Some(ContainerBlkioStats {
                io_service_bytes_recursive: Some(vec![
                    io("Read", 4096),
                    io("Write", 512),
                    io("read", 4),
                    io("Total", 9999),
                ]),
                ..Default::default()
            }),
            pids_stats: Some(ContainerPidsStats {
                current: Some(7),
                ..Default::default()
            }),
            ..Default::default()
        }
    }

    #[test]
    fn a_response_becomes_a_sample_with_networks_and_devices_summed() {
        let s = Sample::from_response(&response(1_000, 10_000)).unwrap();
        assert_eq!(s.memory_mib(), 64.0);
        assert_eq!(s.memory_limit_bytes, Some(1 << 30));
        assert_eq!((s.net_rx_bytes, s.net_tx_bytes), (105, 11));
        assert_eq!((s.block_read_bytes, s.block_write_bytes), (4100, 512));
        assert_eq!(s.pids, Some(7));
        assert_eq!(s.online_cpus, 4);
        let stopped = ContainerStatsResponse {
            cpu_stats: None,
            ..response(0, 0)
        };
        assert_eq!(Sample::from_response(&stopped), None);
    }

    #[test]
    fn cpu_percent_is_the_share_of_machine_time_times_the_cpus() {
        let mut sampler = Sampler::new();
        let first = Sample::from_response(&response(1_000, 10_000)).unwrap();
        assert_eq!(sampler.usage("c", first).cpu_percent, 0.0, "one sample");
        // 500 ns of 2000 ns machine time on 4 CPUs: 100 % (one CPU busy).
        let second = Sample::from_response(&response(1_500, 12_000)).unwrap();
        assert_eq!(sampler.usage("c", second).cpu_percent, 100.0);
        // Counters that went back (a restarted container): 0, not a wrap.
        let reset = Sample::from_response(&response(10, 13_000)).unwrap();
        assert_eq!(sampler.usage("c", reset).cpu_percent, 0.0);
    }
}
