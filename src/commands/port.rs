//! `devstack port SVC PORT[/PROTO]`: the host address (`host:port`) that a container port of
//! the service's running container is published on, as `docker compose port` prints it; exit 1
//! when it is not published.

use crate::cli::{GlobalOpts, PortArgs};
use crate::engine::observed;
use crate::errors::UsageError;

pub async fn run(g: &GlobalOpts, a: &PortArgs) -> anyhow::Result<u8> {
    let project = super::load_project(g)?;
    let service = crate::ops::exec::container_service(&project, &a.service, "port")?;
    let (port, proto) = parse_port(&a.port)?;
    let engine = super::connect().await?;
    let c = crate::ops::exec::running_container(&engine, &project, &service, a.index).await?;
    let st = observed::inspect(&engine, &c.id).await?;
    match published(&st.ports, port, &proto) {
        Some(addr) => {
            crate::outln!("{}", engine.site.reachable(&addr))?;
            Ok(0)
        }
        None => anyhow::bail!(
            "port {port}/{proto} of service {service} is not published on the host (its \
             `ports:` has no entry for it{})",
            match st.ports.iter().filter(|p| p.contains("->")).count() {
                0 => String::new(),
                _ => format!(
                    "; published: {}",
                    st.ports
                        .iter()
                        .filter(|p| p.contains("->"))
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
            }
        ),
    }
}

/// `8080`, `8080/tcp`, `53/udp` → (port, protocol).
fn parse_port(s: &str) -> Result<(u16, String), UsageError> {
    let (port, proto) = s.split_once('/').unwrap_or((s, "tcp"));
    let proto = proto.to_ascii_lowercase();
    match (port.parse::<u16>(), proto.as_str()) {
        (Ok(p), "tcp" | "udp" | "sctp") if p > 0 => Ok((p, proto)),
        _ => Err(UsageError(format!(
            "`{s}` is not a container port: give PORT or PORT/PROTO (tcp, udp, sctp), e.g. 8080 or 53/udp"
        ))),
    }
}

/// The first host binding of `port/proto` among inspect's `host_ip:host_port->port/proto`.
fn published(ports: &[String], port: u16, proto: &str) -> Option<String> {
    let suffix = format!("->{port}/{proto}");
    ports
        .iter()
        .find_map(|p| p.strip_suffix(&suffix))
        .filter(|host| !host.is_empty())
        .map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::{parse_port, published};

    #[test]
    fn ports_parse_with_an_optional_protocol() {
        assert_eq!(parse_port("8080").unwrap(), (8080, "tcp".to_string()));
        assert_eq!(parse_port("53/UDP").unwrap(), (53, "udp".to_string()));
        assert!(parse_port("http").is_err());
        assert!(parse_port("80/xyz").is_err());
        assert!(parse_port("0").is_err());
    }

    #[test]
    fn the_binding_of_the_asked_port_and_protocol() {
        let ports = vec![
            "127.0.0.1:18080->8080/tcp".to_string(),
            "0.0.0.0:5353->53/udp".to_string(),
            "9000/tcp".to_string(),
        ];
        assert_eq!(
            published(&ports, 8080, "tcp").as_deref(),
            Some("127.0.0.1:18080")
        );
        assert_eq!(
            published(&ports, 53, "udp").as_deref(),
            Some("0.0.0.0:5353")
        );
        assert_eq!(published(&ports, 53, "tcp"), None);
        assert_eq!(published(&ports, 9000, "tcp"), None);
    }
}
