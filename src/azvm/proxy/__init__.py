"""The transparent HTTPS proxy behind `azvm run` and `azvm env`: `relay` (the CONNECT proxy),
`environment` (what a program is given), `hosts` (the Azure hosts azvm answers as). Importing the
package loads nothing else: the server reads `hosts` without loading TLS."""
