Attribute VB_Name = "LSCB"
' The only VBA in the LSCB add-in. Every button on the LSCB ribbon tab calls LSCB_OnAction,
' which hands the button's tag to Python (lscb_xl.ribbon.dispatch) through the xlwings add-in.
' Keeping all logic in Python means a new button needs only XML and Python, never new VBA.
Option Explicit

' The xlwings add-in that `xlwings addin install` (run by `lscb-xl addin install`) puts in XLSTART.
Private Const XLWINGS_ADDIN As String = "xlwings.xlam"

Public Sub LSCB_OnAction(control As IRibbonControl)
    Dim cmd As String
    cmd = control.Tag
    ' Help must work even when Python or xlwings is broken: that is when staff need it.
    If cmd = "help" Then
        LSCB_Help
        Exit Sub
    End If
    ' Tags come from our own ribbon XML; refusing anything but a-z and _ keeps the Python line safe.
    If cmd = "" Or cmd Like "*[!a-z_]*" Then Exit Sub
    ' We call RunPython through Application.Run rather than a VBA reference to xlwings, so this
    ' add-in still opens (and can explain itself) on a PC where xlwings is missing.
    If Not AddinIsOpen(XLWINGS_ADDIN) Then
        MsgBox "The LSCB buttons need the xlwings add-in, and Excel has not loaded it." & vbCrLf & vbCrLf & _
               "Close Excel, open a command prompt (Terminal on a Mac) and run:" & vbCrLf & vbCrLf & _
               "    lscb-xl addin install" & vbCrLf & vbCrLf & _
               "then start Excel again.", vbExclamation, "LSCB"
        Exit Sub
    End If
    On Error GoTo Failed
    ' xlwings runs Python on the active workbook (xw.Book.caller()), i.e. the board's workbook.
    Application.Run XLWINGS_ADDIN & "!RunPython", "import lscb_xl.ribbon as r; r.dispatch('" & cmd & "')"
    Exit Sub
Failed:
    MsgBox "Excel could not start the '" & cmd & "' command:" & vbCrLf & Err.Description & vbCrLf & vbCrLf & _
           "If this keeps happening, close Excel and run:  lscb-xl addin install", vbExclamation, "LSCB"
End Sub

Sub LSCB_Help()
    MsgBox "The LSCB tab works on the board workbook that is open in front of you." & vbCrLf & vbCrLf & _
           "Validate - check every record and list problems on the Validation sheet." & vbCrLf & _
           "Refresh - re-check and bring figures, dropdowns and RAG colours up to date." & vbCrLf & _
           "Summary - write the board summary document next to the workbook." & vbCrLf & _
           "Email draft - prepare (not send) the update email." & vbCrLf & _
           "Snapshot - save a dated copy of the workbook." & vbCrLf & _
           "Make returns / Merge returns - make partner return forms, then read them back in." & vbCrLf & vbCrLf & _
           "If a button says Python or xlwings is missing, close Excel and run" & vbCrLf & _
           "    lscb-xl addin install" & vbCrLf & _
           "in a command prompt (Terminal on a Mac), then start Excel again.", vbInformation, "LSCB help"
End Sub

Private Function AddinIsOpen(ByVal bookName As String) As Boolean
    ' Workbooks(bookName) finds open add-ins too (For Each does not list them); an error means not open.
    Dim wb As Object
    On Error Resume Next
    Set wb = Application.Workbooks(bookName)
    AddinIsOpen = Not wb Is Nothing
End Function
