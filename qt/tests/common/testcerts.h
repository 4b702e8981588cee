// Throwaway test certificates, made at test time with the openssl command
// line tool in a QTemporaryDir: a root CA, an intermediate CA, a server
// certificate for localhost / 127.0.0.1 issued by the intermediate, a client
// certificate issued by the root, and a self-signed localhost certificate.
#ifndef QDTLS_QT_TESTS_TESTCERTS_H
#define QDTLS_QT_TESTS_TESTCERTS_H

#include <QtCore/QByteArray>
#include <QtCore/QFile>
#include <QtCore/QProcess>
#include <QtCore/QString>
#include <QtCore/QStringList>
#include <QtCore/QTemporaryDir>
#include <QtNetwork/QSslCertificate>
#include <QtNetwork/QSslKey>

struct TestCerts
{
    QSslCertificate root, intermediate, server, client, selfSigned;
    QSslKey serverKey, clientKey, selfSignedKey;
    QString error;

    // Server chain as sent: leaf, then the intermediate.
    QList<QSslCertificate> serverChain() const { return {server, intermediate}; }

    bool generate()
    {
        if (!dir.isValid())
            return fail(QStringLiteral("no temporary directory"));
        const QStringList ec = {QStringLiteral("-newkey"), QStringLiteral("ec"), QStringLiteral("-pkeyopt"),
                                QStringLiteral("ec_paramgen_curve:P-256"), QStringLiteral("-nodes")};
        auto req = [&](const QString &name, const QString &subject, bool selfSigned, const QStringList &extra) {
            QStringList args = {QStringLiteral("req")};
            if (selfSigned)
                args << QStringLiteral("-x509") << QStringLiteral("-days") << QStringLiteral("30");
            args << ec << QStringLiteral("-subj") << subject << QStringLiteral("-keyout") << name + QStringLiteral(".key")
                 << QStringLiteral("-out") << name + (selfSigned ? QStringLiteral(".pem") : QStringLiteral(".csr"))
                 << extra;
            return run(args);
        };
        auto sign = [&](const QString &name, const QString &issuer, const QByteArray &extensions) {
            if (!write(name + QStringLiteral(".ext"), extensions))
                return false;
            return run({QStringLiteral("x509"), QStringLiteral("-req"), QStringLiteral("-in"), name + QStringLiteral(".csr"),
                        QStringLiteral("-CA"), issuer + QStringLiteral(".pem"), QStringLiteral("-CAkey"),
                        issuer + QStringLiteral(".key"), QStringLiteral("-CAcreateserial"), QStringLiteral("-days"),
                        QStringLiteral("30"), QStringLiteral("-extfile"), name + QStringLiteral(".ext"),
                        QStringLiteral("-out"), name + QStringLiteral(".pem")});
        };
        const QByteArray caExt = "basicConstraints=critical,CA:TRUE\nkeyUsage=critical,keyCertSign,cRLSign\n";
        if (!req(QStringLiteral("root"), QStringLiteral("/CN=qdtls Qt test root CA"), true, {})
            || !req(QStringLiteral("inter"), QStringLiteral("/CN=qdtls Qt test intermediate CA"), false, {})
            || !sign(QStringLiteral("inter"), QStringLiteral("root"), caExt)
            || !req(QStringLiteral("server"), QStringLiteral("/CN=localhost"), false, {})
            || !sign(QStringLiteral("server"), QStringLiteral("inter"),
                     "basicConstraints=CA:FALSE\nsubjectAltName=DNS:localhost,IP:127.0.0.1\n"
                     "extendedKeyUsage=serverAuth\n")
            || !req(QStringLiteral("client"), QStringLiteral("/CN=qdtls Qt test client"), false, {})
            || !sign(QStringLiteral("client"), QStringLiteral("root"),
                     "basicConstraints=CA:FALSE\nextendedKeyUsage=clientAuth\n")
            || !req(QStringLiteral("self"), QStringLiteral("/CN=localhost"), true,
                    {QStringLiteral("-addext"), QStringLiteral("subjectAltName=DNS:localhost,IP:127.0.0.1")})) {
            return false;
        }
        root = cert(QStringLiteral("root"));
        intermediate = cert(QStringLiteral("inter"));
        server = cert(QStringLiteral("server"));
        client = cert(QStringLiteral("client"));
        selfSigned = cert(QStringLiteral("self"));
        serverKey = key(QStringLiteral("server"));
        clientKey = key(QStringLiteral("client"));
        selfSignedKey = key(QStringLiteral("self"));
        if (root.isNull() || intermediate.isNull() || server.isNull() || client.isNull() || selfSigned.isNull()
            || serverKey.isNull() || clientKey.isNull() || selfSignedKey.isNull()) {
            return fail(QStringLiteral("could not load the generated certificates"));
        }
        return true;
    }

private:
    QTemporaryDir dir;

    bool fail(const QString &what)
    {
        error = what;
        return false;
    }

    bool write(const QString &name, const QByteArray &data)
    {
        QFile f(dir.filePath(name));
        if (!f.open(QIODevice::WriteOnly) || f.write(data) != data.size())
            return fail(QStringLiteral("cannot write ") + name);
        return true;
    }

    bool run(const QStringList &args)
    {
        QProcess p;
        p.setWorkingDirectory(dir.path());
        p.setProcessChannelMode(QProcess::MergedChannels);
        p.start(QStringLiteral("openssl"), args);
        if (!p.waitForFinished(60000) || p.exitStatus() != QProcess::NormalExit || p.exitCode() != 0) {
            return fail(QStringLiteral("openssl ") + args.join(QLatin1Char(' ')) + QStringLiteral(": ")
                        + QString::fromLocal8Bit(p.readAll()) + p.errorString());
        }
        return true;
    }

    QByteArray read(const QString &name)
    {
        QFile f(dir.filePath(name));
        return f.open(QIODevice::ReadOnly) ? f.readAll() : QByteArray();
    }

    QSslCertificate cert(const QString &name) { return QSslCertificate(read(name + QStringLiteral(".pem")), QSsl::Pem); }
    QSslKey key(const QString &name)
    {
        return QSslKey(read(name + QStringLiteral(".key")), QSsl::Ec, QSsl::Pem, QSsl::PrivateKey);
    }
};

#endif // QDTLS_QT_TESTS_TESTCERTS_H
