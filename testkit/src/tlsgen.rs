//! Test certificates: a small CA, leaves signed by it (EC P-256 or RSA-2048) with the private
//! key in PKCS#8, PKCS#1 (RSA) or SEC1 (EC) PEM, and self-signed certificates.
//!
//! ring (our only crypto backend) cannot generate RSA keys, so RSA leaves use one fixed test
//! key below; it protects nothing.

use anyhow::{bail, Context, Result};
use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType, PKCS_ECDSA_P256_SHA256,
};

/// Fixed RSA-2048 test key, PKCS#1 ("RSA PRIVATE KEY").
pub const RSA_KEY_PKCS1_PEM: &str = concat!(
    "-----BEGIN RSA PRIVATE KEY-----\n",
    "MIIEowIBAAKCAQEAwaN5wYBBScHHsrtpkaWPXUNrYFWf8Pnks460DPHZPfDLDDmK\n",
    "zkvJT39XKI7MBxnntdc68INfJ00q7mASQ7QQn+djB3NyZz9eYjqsoUD70Hu/ALzP\n",
    "/IQ7FtZpWQIsV1fee9D4ERizVQcIdy7n8sWKGukEWPV80QELxOzczCaRtPpve5lr\n",
    "3mQhL4b0Xmf3bf74HPnbBnn9F3DijPJTr/BlwBI+/Lrp5EHpAwah8sm+bzIdGgds\n",
    "El7uLSUMsO55DBp6Qy0Vqcj0xngyVuxBFlng3M7QSHjHvYmcGg//cAgrEJLN2EZj\n",
    "Khauw+8qlb+7PBWyYv47bmkzb3CJUSyPUC9HNwIDAQABAoIBAArn1RSjz4mC42da\n",
    "jMCKLX/YKzT6vY5J1KqUL+nGuTB23kiq+PlTZVwX1OXQ3QbNW7JvE7+19mb1PqS8\n",
    "PmsXuhP3aSljRB8yf3NS0KQoT8ZXIdO9zozvOZC4tKgxqiOlLD+W7lGwLXFtevmT\n",
    "Z7bRj0yisP79nHD8+Re3K1xIE864bvbnVPDssBLCPOwfwWiOa56ImrDMGiajuIFw\n",
    "43VCd91qb4sWQBuB/roOnjkXgQEI5Kmb0qAA7t7Nej287SsI7E+hFbbqFY0tS0aP\n",
    "8ioyrvTT5vleHNu5v8rRXZc/VOD9pwBLp54dff06HaGtUHJvvq5Xp+Bvy45kXKO8\n",
    "ZxtIMekCgYEA4/o3nVPalBARE0UVhUZrZ7JBfkoSfKJnZ72XbIa+1Iw+Ka5Rbq43\n",
    "Hwbz9sC+TrCCF5svGbx9kZ3gUvjNFhKuoDDmhn6ICHTiYPbxjvKTbZ0VfnhpeWQh\n",
    "rfdflqTB4hCDNrkA4my63ke+EYqiH/X0draTKC9tlmFEpjJp2h3djZ0CgYEA2XC3\n",
    "MnfWH14jb1OspMOkwLFzIKToBos9jrRY98vpkKfX5peZUyOV+Vo8riDupXW67oDS\n",
    "njmc6f+saZiPmlMYQGfENkCPeSqd5r9C/Fe8Guu9xbDpfYYZhRacIOWRC1GWxPip\n",
    "uyetO7temz4Y83HzYR7noHPJd93VrFIVHavh+eMCgYB53M7Nsn0smEoIWu1eCH5x\n",
    "N7/6me234bgUpCvFP2HSjATOkvfEiiu80iKmy/DubzubEsDiqPcWV6YJtCUsn1/p\n",
    "ETqougpNOu2nl1kYaGKWPVm3+PWohfXa4FigVgGtrdX18n6eijB5kS/wgIKZQwgi\n",
    "TQXsfS2/LM9dZ6VdiolboQKBgADDWoE81m2JwQoU+xgg76UVelf0/DN5rZ+glmdY\n",
    "OdueGy3d/lXCXDZh0LCzwOKnxR4tKZAQl7JiiVJdjLN38y/WrWObWmWMdr1mkm+c\n",
    "Rza4+ROGiWs9Wz2SVL3w0E9/282ZKc9UVlFNWQmmcCP6lGYU268+eMiI6MUQDK7r\n",
    "+YENAoGBAN/pLABl0o2T/yXVhPBS0cfMU40eHdgVhCUX3BSUYjfKhIpig1NPKhQP\n",
    "vNr2du/Ptk8uY0vnFUg085UoUOdgIrxxJ3N1HnKy6fNiuoZIBmNDzCu3mLbO/X4m\n",
    "nJa6nPsotrbLlbG0eGIhlbjSMGZopSjGiHdpnLMXxQ7CUtps5Op/\n",
    "-----END RSA PRIVATE KEY-----\n",
);

/// The same RSA key as [`RSA_KEY_PKCS1_PEM`], PKCS#8 ("PRIVATE KEY").
pub const RSA_KEY_PKCS8_PEM: &str = concat!(
    "-----BEGIN PRIVATE KEY-----\n",
    "MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQDBo3nBgEFJwcey\n",
    "u2mRpY9dQ2tgVZ/w+eSzjrQM8dk98MsMOYrOS8lPf1cojswHGee11zrwg18nTSru\n",
    "YBJDtBCf52MHc3JnP15iOqyhQPvQe78AvM/8hDsW1mlZAixXV9570PgRGLNVBwh3\n",
    "LufyxYoa6QRY9XzRAQvE7NzMJpG0+m97mWveZCEvhvReZ/dt/vgc+dsGef0XcOKM\n",
    "8lOv8GXAEj78uunkQekDBqHyyb5vMh0aB2wSXu4tJQyw7nkMGnpDLRWpyPTGeDJW\n",
    "7EEWWeDcztBIeMe9iZwaD/9wCCsQks3YRmMqFq7D7yqVv7s8FbJi/jtuaTNvcIlR\n",
    "LI9QL0c3AgMBAAECggEACufVFKPPiYLjZ1qMwIotf9grNPq9jknUqpQv6ca5MHbe\n",
    "SKr4+VNlXBfU5dDdBs1bsm8Tv7X2ZvU+pLw+axe6E/dpKWNEHzJ/c1LQpChPxlch\n",
    "073OjO85kLi0qDGqI6UsP5buUbAtcW16+ZNnttGPTKKw/v2ccPz5F7crXEgTzrhu\n",
    "9udU8OywEsI87B/BaI5rnoiasMwaJqO4gXDjdUJ33WpvixZAG4H+ug6eOReBAQjk\n",
    "qZvSoADu3s16PbztKwjsT6EVtuoVjS1LRo/yKjKu9NPm+V4c27m/ytFdlz9U4P2n\n",
    "AEunnh19/Todoa1Qcm++rlen4G/LjmRco7xnG0gx6QKBgQDj+jedU9qUEBETRRWF\n",
    "RmtnskF+ShJ8omdnvZdshr7UjD4prlFurjcfBvP2wL5OsIIXmy8ZvH2RneBS+M0W\n",
    "Eq6gMOaGfogIdOJg9vGO8pNtnRV+eGl5ZCGt91+WpMHiEIM2uQDibLreR74RiqIf\n",
    "9fR2tpMoL22WYUSmMmnaHd2NnQKBgQDZcLcyd9YfXiNvU6ykw6TAsXMgpOgGiz2O\n",
    "tFj3y+mQp9fml5lTI5X5WjyuIO6ldbrugNKeOZzp/6xpmI+aUxhAZ8Q2QI95Kp3m\n",
    "v0L8V7wa673FsOl9hhmFFpwg5ZELUZbE+Km7J607u16bPhjzcfNhHuegc8l33dWs\n",
    "UhUdq+H54wKBgHnczs2yfSyYSgha7V4IfnE3v/qZ7bfhuBSkK8U/YdKMBM6S98SK\n",
    "K7zSIqbL8O5vO5sSwOKo9xZXpgm0JSyfX+kROqi6Ck067aeXWRhoYpY9Wbf49aiF\n",
    "9drgWKBWAa2t1fXyfp6KMHmRL/CAgplDCCJNBex9Lb8sz11npV2KiVuhAoGAAMNa\n",
    "gTzWbYnBChT7GCDvpRV6V/T8M3mtn6CWZ1g5254bLd3+VcJcNmHQsLPA4qfFHi0p\n",
    "kBCXsmKJUl2Ms3fzL9atY5taZYx2vWaSb5xHNrj5E4aJaz1bPZJUvfDQT3/bzZkp\n",
    "z1RWUU1ZCaZwI/qUZhTbrz54yIjoxRAMruv5gQ0CgYEA3+ksAGXSjZP/JdWE8FLR\n",
    "x8xTjR4d2BWEJRfcFJRiN8qEimKDU08qFA+82vZ278+2Ty5jS+cVSDTzlShQ52Ai\n",
    "vHEnc3UecrLp82K6hkgGY0PMK7eYts79fiaclrqc+yi2tsuVsbR4YiGVuNIwZmil\n",
    "KMaId2mcsxfFDsJS2mzk6n8=\n",
    "-----END PRIVATE KEY-----\n",
);

/// Key algorithm of a generated leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A fresh ECDSA P-256 key.
    EcP256,
    /// The fixed RSA-2048 test key.
    Rsa2048,
}

/// PEM encoding of a generated private key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyEncoding {
    /// "PRIVATE KEY" (any algorithm).
    Pkcs8,
    /// "RSA PRIVATE KEY" (RSA only).
    Pkcs1,
    /// "EC PRIVATE KEY" (EC only).
    Sec1,
}

/// What leaf to make; `LeafSpec::new(&["a.test"])` gives an EC PKCS#8 leaf valid from now.
#[derive(Clone, Debug)]
pub struct LeafSpec {
    /// DNS names (SANs); the first is also the CN.
    pub names: Vec<String>,
    /// IP SANs, e.g. "127.0.0.1".
    pub ips: Vec<String>,
    /// Key algorithm.
    pub key: KeyKind,
    /// Key encoding.
    pub encoding: KeyEncoding,
    /// Validity start as (year, month, day); default: 2024-01-01.
    pub not_before: Option<(i32, u8, u8)>,
    /// Validity end as (year, month, day); default: 2099-01-01.
    pub not_after: Option<(i32, u8, u8)>,
    /// Also usable as a TLS client certificate (extended key usage `clientAuth`).
    pub client_auth: bool,
}

impl LeafSpec {
    /// An EC P-256, PKCS#8 leaf for `names`.
    pub fn new(names: &[&str]) -> Self {
        Self {
            names: names.iter().map(|n| n.to_string()).collect(),
            ips: Vec::new(),
            key: KeyKind::EcP256,
            encoding: KeyEncoding::Pkcs8,
            not_before: None,
            not_after: None,
            client_auth: false,
        }
    }

    /// Also usable as a TLS client certificate (extended key usage `clientAuth`).
    pub fn client_auth(mut self) -> Self {
        self.client_auth = true;
        self
    }

    /// Use this key algorithm and encoding.
    pub fn key(mut self, key: KeyKind, encoding: KeyEncoding) -> Self {
        self.key = key;
        self.encoding = encoding;
        self
    }

    /// Add IP SANs.
    pub fn ips(mut self, ips: &[&str]) -> Self {
        self.ips = ips.iter().map(|n| n.to_string()).collect();
        self
    }

    /// Set the validity window (dates as (year, month, day)).
    pub fn validity(mut self, not_before: (i32, u8, u8), not_after: (i32, u8, u8)) -> Self {
        self.not_before = Some(not_before);
        self.not_after = Some(not_after);
        self
    }
}

/// A generated certificate with its key, all PEM.
#[derive(Clone, Debug)]
pub struct Leaf {
    /// The leaf certificate alone.
    pub cert_pem: String,
    /// Leaf followed by the issuing CA (what a `tls.crt` usually holds).
    pub chain_pem: String,
    /// The private key in the requested encoding.
    pub key_pem: String,
}

/// A throwaway certificate authority.
pub struct TestCa {
    issuer: Issuer<'static, KeyPair>,
    cert_pem: String,
}

impl TestCa {
    /// A new self-signed CA (EC P-256) named `common_name`.
    pub fn new(common_name: &str) -> Result<Self> {
        let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("CA key")?;
        let mut params = CertificateParams::new(Vec::<String>::new()).context("CA params")?;
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        params.not_before = rcgen::date_time_ymd(2020, 1, 1);
        params.not_after = rcgen::date_time_ymd(2099, 1, 1);
        let cert = params.self_signed(&key).context("self-sign CA")?;
        Ok(Self {
            cert_pem: cert.pem(),
            issuer: Issuer::new(params, key),
        })
    }

    /// The CA certificate (trust anchor for clients).
    pub fn cert_pem(&self) -> &str {
        &self.cert_pem
    }

    /// An EC P-256 PKCS#8 server leaf for `names`.
    pub fn leaf(&self, names: &[&str]) -> Result<Leaf> {
        self.leaf_with(&LeafSpec::new(names))
    }

    /// A server leaf as described by `spec`.
    pub fn leaf_with(&self, spec: &LeafSpec) -> Result<Leaf> {
        let (key, key_pem) = leaf_key(spec.key, spec.encoding)?;
        let params = leaf_params(spec)?;
        let cert = params.signed_by(&key, &self.issuer).context("sign leaf")?;
        let cert_pem = cert.pem();
        Ok(Leaf {
            chain_pem: format!("{cert_pem}{}", self.cert_pem),
            cert_pem,
            key_pem,
        })
    }
}

/// A self-signed leaf (no CA); `chain_pem` is the leaf alone.
pub fn self_signed(spec: &LeafSpec) -> Result<Leaf> {
    let (key, key_pem) = leaf_key(spec.key, spec.encoding)?;
    let cert = leaf_params(spec)?
        .self_signed(&key)
        .context("self-sign leaf")?;
    let cert_pem = cert.pem();
    Ok(Leaf {
        chain_pem: cert_pem.clone(),
        cert_pem,
        key_pem,
    })
}

fn leaf_params(spec: &LeafSpec) -> Result<CertificateParams> {
    let mut params = CertificateParams::new(spec.names.clone()).context("leaf names")?;
    for ip in &spec.ips {
        let ip = ip.parse().with_context(|| format!("IP SAN {ip:?}"))?;
        params.subject_alt_names.push(SanType::IpAddress(ip));
    }
    if let Some(first) = spec.names.first() {
        params
            .distinguished_name
            .push(DnType::CommonName, first.as_str());
    }
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if spec.client_auth {
        params
            .extended_key_usages
            .push(ExtendedKeyUsagePurpose::ClientAuth);
    }
    params.use_authority_key_identifier_extension = true;
    let (y, m, d) = spec.not_before.unwrap_or((2024, 1, 1));
    params.not_before = rcgen::date_time_ymd(y, m, d);
    let (y, m, d) = spec.not_after.unwrap_or((2099, 1, 1));
    params.not_after = rcgen::date_time_ymd(y, m, d);
    Ok(params)
}

/// A key pair for signing plus its PEM in the requested encoding.
fn leaf_key(kind: KeyKind, encoding: KeyEncoding) -> Result<(KeyPair, String)> {
    match (kind, encoding) {
        (KeyKind::EcP256, KeyEncoding::Pkcs1) | (KeyKind::Rsa2048, KeyEncoding::Sec1) => {
            bail!("{encoding:?} cannot hold a {kind:?} key")
        }
        (KeyKind::Rsa2048, enc) => {
            let key = KeyPair::from_pem(RSA_KEY_PKCS8_PEM).context("fixed RSA key")?;
            let pem = if enc == KeyEncoding::Pkcs1 {
                RSA_KEY_PKCS1_PEM
            } else {
                RSA_KEY_PKCS8_PEM
            };
            Ok((key, pem.to_owned()))
        }
        (KeyKind::EcP256, KeyEncoding::Pkcs8) => {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("EC key")?;
            let pem = key.serialize_pem();
            Ok((key, pem))
        }
        (KeyKind::EcP256, KeyEncoding::Sec1) => {
            let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).context("EC key")?;
            let sec1 = pkcs8_private_key(key.serialized_der())
                .context("ring PKCS#8 without an inner key")?;
            let pem = pem_block("EC PRIVATE KEY", sec1);
            Ok((key, pem))
        }
    }
}

/// The `privateKey` OCTET STRING of a PKCS#8 structure: for EC keys that is the SEC1
/// `ECPrivateKey` (RFC 5915), curve parameters omitted as ring writes it.
fn pkcs8_private_key(der: &[u8]) -> Option<&[u8]> {
    let (tag, outer, _) = der_tlv(der)?;
    if tag != 0x30 {
        return None;
    }
    let (_, _, rest) = der_tlv(outer)?; // version INTEGER
    let (_, _, rest) = der_tlv(rest)?; // AlgorithmIdentifier SEQUENCE
    let (tag, key, _) = der_tlv(rest)?;
    (tag == 0x04).then_some(key)
}

/// Split one DER TLV: (tag, value, rest).
fn der_tlv(input: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, rest) = input.split_first()?;
    let (&first, rest) = rest.split_first()?;
    let (len, rest) = if first < 0x80 {
        (usize::from(first), rest)
    } else {
        let n = usize::from(first & 0x7f);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let len = rest[..n]
            .iter()
            .fold(0usize, |acc, b| (acc << 8) | usize::from(*b));
        (len, &rest[n..])
    };
    if rest.len() < len {
        return None;
    }
    Some((tag, &rest[..len], &rest[len..]))
}

/// PEM-armour DER bytes.
fn pem_block(label: &str, der: &[u8]) -> String {
    let b64 = crate::base64::encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_supported_encoding_has_its_pem_label() -> Result<()> {
        let ca = TestCa::new("test ca")?;
        let cases = [
            (KeyKind::EcP256, KeyEncoding::Pkcs8, "PRIVATE KEY"),
            (KeyKind::EcP256, KeyEncoding::Sec1, "EC PRIVATE KEY"),
            (KeyKind::Rsa2048, KeyEncoding::Pkcs8, "PRIVATE KEY"),
            (KeyKind::Rsa2048, KeyEncoding::Pkcs1, "RSA PRIVATE KEY"),
        ];
        for (kind, enc, label) in cases {
            let leaf = ca.leaf_with(&LeafSpec::new(&["a.test"]).key(kind, enc))?;
            assert!(
                leaf.key_pem
                    .starts_with(&format!("-----BEGIN {label}-----")),
                "{kind:?}/{enc:?}: {}",
                leaf.key_pem
            );
            assert_eq!(leaf.chain_pem.matches("BEGIN CERTIFICATE").count(), 2);
        }
        assert!(ca
            .leaf_with(&LeafSpec::new(&["a.test"]).key(KeyKind::EcP256, KeyEncoding::Pkcs1))
            .is_err());
        Ok(())
    }
}
