//! ISO 3166-1 alpha-3 country codes (as AfterShip sends them) to alpha-2 (as core's
//! `Place.country` keeps them). The whole standard's table, plus Kosovo's `XKX`/`XK` that
//! carriers use: small enough to carry here, where a crate for it would bring a second
//! `thiserror` or `phf` major into the build.

/// Five letters per country, alpha-3 then alpha-2, sorted by alpha-3.
const TABLE: &str = "ABWAWAFGAFAGOAOAIAAIALAAXALBALANDADAREAEARGARARMAMASMASATAAQATFTFATGAGAUSAUAUTATAZEAZBDIBIBELBE\
     BENBJBESBQBFABFBGDBDBGRBGBHRBHBHSBSBIHBABLMBLBLRBYBLZBZBMUBMBOLBOBRABRBRBBBBRNBNBTNBTBVTBVBWABW\
     CAFCFCANCACCKCCCHECHCHLCLCHNCNCIVCICMRCMCODCDCOGCGCOKCKCOLCOCOMKMCPVCVCRICRCUBCUCUWCWCXRCXCYMKY\
     CYPCYCZECZDEUDEDJIDJDMADMDNKDKDOMDODZADZECUECEGYEGERIERESHEHESPESESTEEETHETFINFIFJIFJFLKFKFRAFR\
     FROFOFSMFMGABGAGBRGBGEOGEGGYGGGHAGHGIBGIGINGNGLPGPGMBGMGNBGWGNQGQGRCGRGRDGDGRLGLGTMGTGUFGFGUMGU\
     GUYGYHKGHKHMDHMHNDHNHRVHRHTIHTHUNHUIDNIDIMNIMINDINIOTIOIRLIEIRNIRIRQIQISLISISRILITAITJAMJMJEYJE\
     JORJOJPNJPKAZKZKENKEKGZKGKHMKHKIRKIKNAKNKORKRKWTKWLAOLALBNLBLBRLRLBYLYLCALCLIELILKALKLSOLSLTULT\
     LUXLULVALVMACMOMAFMFMARMAMCOMCMDAMDMDGMGMDVMVMEXMXMHLMHMKDMKMLIMLMLTMTMMRMMMNEMEMNGMNMNPMPMOZMZ\
     MRTMRMSRMSMTQMQMUSMUMWIMWMYSMYMYTYTNAMNANCLNCNERNENFKNFNGANGNICNINIUNUNLDNLNORNONPLNPNRUNRNZLNZ\
     OMNOMPAKPKPANPAPCNPNPERPEPHLPHPLWPWPNGPGPOLPLPRIPRPRKKPPRTPTPRYPYPSEPSPYFPFQATQAREUREROURORUSRU\
     RWARWSAUSASDNSDSENSNSGPSGSGSGSSHNSHSJMSJSLBSBSLESLSLVSVSMRSMSOMSOSPMPMSRBRSSSDSSSTPSTSURSRSVKSK\
     SVNSISWESESWZSZSXMSXSYCSCSYRSYTCATCTCDTDTGOTGTHATHTJKTJTKLTKTKMTMTLSTLTONTOTTOTTTUNTNTURTRTUVTV\
     TWNTWTZATZUGAUGUKRUAUMIUMURYUYUSAUSUZBUZVATVAVCTVCVENVEVGBVGVIRVIVNMVNVUTVUWLFWFWSMWSXKXXKYEMYE\
     ZAFZAZMBZMZWEZW";

/// The alpha-2 code for an alpha-3 one (any case), if it is one.
pub(super) fn alpha2(alpha3: &str) -> Option<&'static str> {
    let want = alpha3.to_ascii_uppercase();
    if want.len() != 3 {
        return None;
    }
    let n = TABLE.len() / 5;
    let (mut lo, mut hi) = (0, n);
    while lo < hi {
        let mid = (lo + hi) / 2;
        let row = &TABLE[mid * 5..mid * 5 + 5];
        match row[..3].cmp(want.as_str()) {
            std::cmp::Ordering::Less => lo = mid + 1,
            std::cmp::Ordering::Greater => hi = mid,
            std::cmp::Ordering::Equal => return Some(&row[3..]),
        }
    }
    None
}

/// A country as core keeps it: two letters upper-cased, three letters as their alpha-2
/// where known; anything else kept as given.
pub(super) fn normalise(raw: &str) -> String {
    let t = raw.trim();
    match t.len() {
        2 if t.bytes().all(|b| b.is_ascii_alphabetic()) => t.to_ascii_uppercase(),
        3 => alpha2(t).map(str::to_owned).unwrap_or_else(|| t.to_owned()),
        _ => t.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_whole_sorted_and_well_formed() {
        assert_eq!(TABLE.len() % 5, 0);
        let rows: Vec<&str> = (0..TABLE.len() / 5)
            .map(|i| &TABLE[i * 5..i * 5 + 5])
            .collect();
        assert_eq!(rows.len(), 250);
        assert!(
            rows.windows(2).all(|w| w[0][..3] < w[1][..3]),
            "sorted, no repeats"
        );
        assert!(TABLE.bytes().all(|b| b.is_ascii_uppercase()));
        let mut twos: Vec<&str> = rows.iter().map(|r| &r[3..]).collect();
        twos.sort();
        twos.dedup();
        assert_eq!(twos.len(), rows.len());
        for r in rows {
            assert_eq!(alpha2(&r[..3]), Some(&r[3..]));
        }
    }

    #[test]
    fn common_countries_map() {
        for (a3, a2) in [
            ("USA", "US"),
            ("DEU", "DE"),
            ("GBR", "GB"),
            ("CHN", "CN"),
            ("NLD", "NL"),
            ("can", "CA"),
            ("AUS", "AU"),
            ("ABW", "AW"),
            ("ZWE", "ZW"),
        ] {
            assert_eq!(alpha2(a3), Some(a2), "{a3}");
        }
        assert_eq!(alpha2("XXX"), None);
        assert_eq!(alpha2("US"), None);
        assert_eq!(normalise(" de "), "DE");
        assert_eq!(normalise("fra"), "FR");
        assert_eq!(normalise("XYZ"), "XYZ");
        assert_eq!(normalise("Deutschland"), "Deutschland");
        assert_eq!(normalise("ÄÖÜ"), "ÄÖÜ");
    }
}
