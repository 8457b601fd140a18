//! One GOST R 34.10-2012 verification on 256-bit paramset A and on 512-bit
//! paramset A, with a key, digest and signature made by OpenSSL's GOST
//! engine. OpenSSL's own figure on this machine is printed beside it by
//! `openssl speed` where the engine is installed (see the README).

use criterion::{Criterion, criterion_group, criterion_main};
use tapline_signature::gost::{self, ParamSet};

const CASES: &[(&str, ParamSet, &str, &str, &str)] = &[
    (
        "gost2012-256 paramset A",
        ParamSet::CryptoProA,
        "9c0f796f5a5e0ac6025b79c670fafcd2ccd2e4662929aa94c6aec175f514c4c5",
        "38512f86e0ab5832cdeab96a2457993939f87acb558e4233bdc395cff942f68686d3a801e83213e28db40aedb1b4d3eaba8734e56aaecc73d4aa81ec691f902d",
        "c0f7d2abf382b9def317b7d75179dd14954464331d33cb30df13cbff502824f14336aa473a8a1bda05a646c1f8c9fd32ffdc7c9dd4ed037fd142c15585204dc5",
    ),
    (
        "gost2012-512 paramset A",
        ParamSet::Tc26_512A,
        "2ace56934782659bc5d329e2eac363754a7b6ada9112a7dbf4cc6c5045db6f09b334542c8a8607e76153a13c544d1aedd5b32fa5a32be1ace449bcbe8c3c1ac8",
        "c3d9325c653254551c4614dcc41f65c4669b512680e18233d941f317256341910ea113b6fe5956d3f97288904415be449dae120f2a02f053ccd037249255ebd24a0649881fd0e428fb6e308584a358f0666c49f0f39382c29c909d39d633e7d22a07d2874fd9206526859d24c21640c3f0183008561dc580ac6609279946d0d5",
        "bdfa7097aab22e5e113d5308dc78614f9723be1caa5f6d987db57f91061a960b7738449226a58d836ba913fbfbfeef72f42f2a31349d713847cf4d113fd23ecb2fe97f7e509a049482b0032e0c350badee13c9e2759780622d19b5b5d4f30fae4859dd0dd4d4a940502100478fbee55c24871e42a40bf7fc151c81bdd4ec855d",
    ),
];

fn verify(c: &mut Criterion) {
    for (name, set, digest, sig, key) in CASES {
        let (digest, sig, key) = (
            hex::decode(digest).unwrap(),
            hex::decode(sig).unwrap(),
            hex::decode(key).unwrap(),
        );
        assert_eq!(gost::verify(*set, &digest, &sig, &key), Ok(()), "{name}");
        c.bench_function(&format!("verify {name}"), |b| {
            b.iter(|| gost::verify(*set, &digest, &sig, &key))
        });
    }
}

criterion_group!(benches, verify);
criterion_main!(benches);
