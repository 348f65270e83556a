//! The shared next-hop vectors (tests/vectors/next-hop.json) against the data plane's greedy
//! rule (`relay::greedy`, which `next_hop` applies to usable peers); ts/core/next-hop.test.ts
//! checks ts/core/routing.ts against the same file. Must not depend on tables or sockets.

use ringvpn_dataplane::relay::greedy;
use ringvpn_dataplane::NodeId;
use serde_json::Value;

fn id(v: &Value) -> NodeId {
    let s = v.as_str().expect("hex id");
    assert_eq!(s.len(), 40, "{s}");
    let mut out = [0u8; 20];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("hex");
    }
    out
}

#[test]
fn greedy_matches_the_shared_vectors() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/vectors/next-hop.json"
    );
    let text = std::fs::read_to_string(path).expect("tests/vectors/next-hop.json");
    let doc: Value = serde_json::from_str(&text).expect("json");
    let cases = doc["cases"].as_array().expect("cases");
    assert!(cases.len() >= 20);
    for c in cases {
        let name = c["name"].as_str().unwrap_or("?");
        let own = id(&c["self"]);
        let dst = id(&c["dest"]);
        let exclude = c.get("exclude").map(id);
        let cands: Vec<NodeId> = c["candidates"]
            .as_array()
            .expect("candidates")
            .iter()
            .map(id)
            .collect();
        let usable = cands
            .iter()
            .filter(|n| Some(**n) != exclude)
            .map(|n| (n, *n));
        let got = greedy(&own, &dst, usable, Some);
        let want = (!c["expected"].is_null()).then(|| id(&c["expected"]));
        assert_eq!(got, want, "{name}");
    }
}
