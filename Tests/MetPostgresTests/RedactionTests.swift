import MetPostgres
import Testing

@Suite struct RedactionTests {
    @Test(arguments: [
        // keyword/value connection strings
        ("host=db password=hunter2 dbname=x", "host=db password=*** dbname=x"),
        ("password=hunter2", "password=***"),
        ("host=db password = hunter2", "host=db password = ***"),
        ("password='hunter 2' user=u", "password=*** user=u"),
        (#"password='it\'s \\ secret' user=u"#, "password=*** user=u"),
        ("password='unterminated secret", "password=***"),
        ("PASSWORD=hunter2 sslpassword=keypass", "PASSWORD=*** sslpassword=***"),
        ("env PGPASSWORD=hunter2 psql", "env PGPASSWORD=*** psql"),
        // URIs
        ("postgres://alice:hunter2@db:5432/app", "postgres://alice:***@db:5432/app"),
        ("postgresql://:hunter2@db/app", "postgresql://:***@db/app"),
        ("postgresql://alice:hun@ter/2@db/app", "postgresql://alice:***@db/app"),
        ("postgresql://db/app?user=a&password=hunter2&sslmode=require",
         "postgresql://db/app?user=a&password=***&sslmode=require"),
        ("connect \"postgres://a:hunter2@h/x\" failed", "connect \"postgres://a:***@h/x\" failed"),
        ("a postgres://a:p1@h and postgres://b:p2@h", "a postgres://a:***@h and postgres://b:***@h"),
        // nothing to hide
        ("postgresql://alice@db/app", "postgresql://alice@db/app"),
        (#"FATAL:  password authentication failed for user "alice""#,
         #"FATAL:  password authentication failed for user "alice""#),
        ("", ""),
    ])
    func redacts(input: String, expected: String) {
        #expect(redactingPassword(input) == expected)
    }

    @Test func errorMessagesAreRedacted() {
        let error = PostgresError(.connect, message: "bad postgres://u:hunter2@h password=hunter2\n")
        #expect(!error.message.contains("hunter2"))
        #expect(!error.description.contains("hunter2"))
        #expect(error.message == "bad postgres://u:***@h password=***")
    }
}
