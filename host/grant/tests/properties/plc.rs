//! PLC address ranges: containment against the set of granted addresses.

use std::collections::BTreeSet;

use baton_grant::plc::{Access, AddressRange, Area, PlcGrant, check};
use proptest::prelude::*;

const AREAS: [Area; 4] = [Area::Holding, Area::Input, Area::Coil, Area::Discrete];

/// Addresses near both ends of the space, where off-by-one errors live,
/// packed closely so that ranges touch, overlap and leave one-address gaps.
fn address() -> impl Strategy<Value = u16> {
    prop_oneof![0u16..64, 65_472u16..=65_535]
}

fn range() -> impl Strategy<Value = AddressRange> {
    (prop::sample::select(&AREAS[..]), address(), 0u16..12).prop_map(|(area, first, len)| {
        AddressRange {
            area,
            first,
            last: first.saturating_add(len),
        }
    })
}

proptest! {
    #[test]
    fn containment_agrees_with_the_set_of_granted_addresses(
        read in prop::collection::vec(range(), 0..8),
        write in prop::collection::vec(range(), 0..3),
        area in prop::sample::select(&AREAS[..]),
        address in address(),
        count in 0u16..30,
    ) {
        let granted: BTreeSet<u32> = read
            .iter()
            .filter(|r| r.area == area)
            .flat_map(|r| u32::from(r.first)..=u32::from(r.last))
            .collect();
        let end = u32::from(address) + u32::from(count);
        let expected = count > 0 && end <= 65_536 && (u32::from(address)..end).all(|a| granted.contains(&a));
        let grants = vec![
            PlcGrant { device: "oven-1".into(), read, write },
            PlcGrant { device: "oven-2".into(), read: vec![AddressRange { area, first: 0, last: 65_535 }], write: vec![] },
        ];
        let result = check(&grants, "oven-1", Access::Read, area, address, count);
        prop_assert_eq!(result.is_ok(), expected, "{:?}", result);
    }

    #[test]
    fn a_range_reads_back_as_written(r in range()) {
        prop_assert_eq!(r.to_string().parse::<AddressRange>().unwrap(), r);
    }
}
