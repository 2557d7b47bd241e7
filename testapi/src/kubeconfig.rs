//! Kubeconfig files that point kube-rs at the test server.

/// A kubeconfig with one cluster (`server` = plain http URL), one credential-less user and a
/// current context using namespace `default`.
pub fn kubeconfig_yaml(server_url: &str) -> String {
    format!(
        "apiVersion: v1
kind: Config
clusters:
- name: gatehouse-testapi
  cluster:
    server: {server_url}
users:
- name: gatehouse-testapi
  user: {{}}
contexts:
- name: gatehouse-testapi
  context:
    cluster: gatehouse-testapi
    user: gatehouse-testapi
    namespace: default
current-context: gatehouse-testapi
preferences: {{}}
"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubeconfig_is_valid_yaml_with_the_url() -> anyhow::Result<()> {
        let doc: serde_yaml::Value = serde_yaml::from_str(&kubeconfig_yaml("http://127.0.0.1:1"))?;
        assert_eq!(
            doc["clusters"][0]["cluster"]["server"].as_str(),
            Some("http://127.0.0.1:1")
        );
        assert_eq!(doc["current-context"].as_str(), Some("gatehouse-testapi"));
        Ok(())
    }
}
