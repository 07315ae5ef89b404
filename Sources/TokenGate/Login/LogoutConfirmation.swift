/// The answer to a logout that another site's page sent (a link, an auto-submitted form,
/// an image; `LoginRequest.isCrossSite`): nothing ends, and the browser gets a small page of
/// the gateway's own whose button posts the logout back from this site, which then
/// proceeds. Without it any site could log a user out, and start RP-initiated logout at
/// the provider, with one navigation (logout CSRF).
///
/// The page cannot be framed (against clickjacking its button) and runs nothing.
enum LogoutConfirmation {
    /// `action`: the logout endpoint's path; `returnTo`: a validated `return_to`, kept for
    /// the confirmed logout.
    static func answer(action: String, returnTo: String?, route: String) -> GatewayAnswer {
        var target = action
        if let returnTo { target += "?return_to=" + FormEncoding.escape(returnTo) }
        let page = """
            <!DOCTYPE html>
            <html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
            <title>Log out?</title></head>
            <body><form method="post" action="\(htmlEscaped(target))"><p>Do you want to log out?</p>
            <button type="submit">Log out</button></form></body></html>

            """
        return GatewayAnswer(
            .logoutConfirmation, route: route,
            headers: [
                ("Content-Security-Policy", "default-src 'none'; base-uri 'none'; frame-ancestors 'none'"),
                ("X-Frame-Options", "DENY"),
            ],
            page: page
        )
    }

    /// Text safe in HTML content and in a double- or single-quoted attribute.
    static func htmlEscaped(_ text: String) -> String {
        var out = ""
        out.reserveCapacity(text.utf8.count)
        for character in text {
            switch character {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&#39;"
            default: out.append(character)
            }
        }
        return out
    }
}
